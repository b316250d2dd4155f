//! A client codec that encodes requests with prost but does not decode answers: it only counts
//! their bytes. The load generator spends the same (near zero) effort on every kind of answer,
//! so the figures compare the server's work, not the client's decoding.

use std::marker::PhantomData;

use bytes::Buf;
use tonic::Status;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::transport::Channel;

pub struct RawCodec<Request>(PhantomData<Request>);

impl<Request> Default for RawCodec<Request> {
    fn default() -> Self {
        RawCodec(PhantomData)
    }
}

pub struct RequestEncoder<Request>(PhantomData<Request>);

impl<Request: prost::Message> Encoder for RequestEncoder<Request> {
    type Item = Request;
    type Error = Status;

    fn encode(&mut self, item: Request, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|error| Status::internal(error.to_string()))
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

impl<Request: prost::Message + Send + 'static> Codec for RawCodec<Request> {
    type Encode = Request;
    type Decode = usize;
    type Encoder = RequestEncoder<Request>;
    type Decoder = ByteCounter;

    fn encoder(&mut self) -> Self::Encoder {
        RequestEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        ByteCounter
    }
}

/// One unary call to `path`; `Ok(bytes of the answer)`.
pub async fn call<Request: prost::Message + Send + 'static>(
    channel: Channel,
    path: &'static str,
    request: Request,
) -> Result<usize, Status> {
    let mut client = tonic::client::Grpc::new(channel);
    client
        .ready()
        .await
        .map_err(|error| Status::unavailable(error.to_string()))?;
    let response = client
        .unary(
            tonic::Request::new(request),
            http::uri::PathAndQuery::from_static(path),
            RawCodec::<Request>::default(),
        )
        .await?;
    Ok(response.into_inner())
}
