//! The `veil.v1` gRPC API: message types, client and server stubs, and the file descriptor set
//! that server reflection serves.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("veil.v1");
}

/// Server stubs whose `GetViewDefinition` answers with an [`EncodedView`]; clients use [`v1`].
pub mod server {
    include!(concat!(env!("OUT_DIR"), "/server/veil.v1.rs"));
}

/// A `GetViewDefinitionResponse` already encoded: sending it copies nothing and encodes
/// nothing. Only servers build these; clients decode answers as `v1::GetViewDefinitionResponse`.
#[derive(Clone, Default, PartialEq)]
pub struct EncodedView(pub bytes::Bytes);

impl EncodedView {
    pub fn encode(response: &v1::GetViewDefinitionResponse) -> EncodedView {
        EncodedView(prost::Message::encode_to_vec(response).into())
    }
}

impl std::fmt::Debug for EncodedView {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "EncodedView({} bytes)", self.0.len())
    }
}

impl prost::Message for EncodedView {
    fn encode_raw(&self, buffer: &mut impl bytes::BufMut) {
        buffer.put_slice(&self.0);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: prost::encoding::WireType,
        buffer: &mut impl bytes::Buf,
        context: prost::encoding::DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        // Never decoded: a server only sends these. Skip, as for unknown fields.
        prost::encoding::skip_field(wire_type, tag, buffer, context)
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0 = bytes::Bytes::new();
    }
}

/// The encoded `FileDescriptorSet` of every `veil.v1` proto file, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/veil_descriptor.bin"));
