//! The `veil.v1` gRPC API: message types, client and server stubs, and the file descriptor set
//! that server reflection serves.

#![allow(clippy::all, missing_docs)]

pub mod v1 {
    tonic::include_proto!("veil.v1");
}

/// The encoded `FileDescriptorSet` of every `veil.v1` proto file, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/veil_descriptor.bin"));
