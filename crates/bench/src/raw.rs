//! A client codec for the load: requests are encoded once, before the load starts, and sent as
//! those bytes; answers are not decoded, only counted. The load generator then spends the same
//! (near zero) effort on every kind of call, so the figures compare the server's work, not the
//! client's encoding and decoding.

use bytes::{Buf, BufMut, Bytes};
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

#[derive(Default)]
pub struct RawCodec;

pub struct BytesEncoder;

impl Encoder for BytesEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

pub struct ByteCounter;

impl Decoder for ByteCounter {
    type Item = usize;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<usize>, Status> {
        let length = src.remaining();
        src.advance(length);
        Ok(Some(length))
    }
}

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = usize;
    type Encoder = BytesEncoder;
    type Decoder = ByteCounter;

    fn encoder(&mut self) -> Self::Encoder {
        BytesEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        ByteCounter
    }
}

/// Encodes a request message once, for [`call`].
pub fn encode(message: &impl prost::Message) -> Bytes {
    Bytes::from(message.encode_to_vec())
}

/// One unary call to `path` with an already encoded request; `Ok(bytes of the answer)`.
pub async fn call(channel: Channel, path: &'static str, request: Bytes) -> Result<usize, Status> {
    let mut client = tonic::client::Grpc::new(channel);
    client
        .ready()
        .await
        .map_err(|error| Status::unavailable(error.to_string()))?;
    let response = client
        .unary(
            tonic::Request::new(request),
            http::uri::PathAndQuery::from_static(path),
            RawCodec,
        )
        .await?;
    Ok(response.into_inner())
}
