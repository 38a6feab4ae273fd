//! A per-message size limit for every gRPC request, enforced on the gRPC frame headers as the body streams in,
//! so an oversized message is refused with RESOURCE_EXHAUSTED before it is buffered, whatever its size.

use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use tonic::Status;

/// A request body that fails once a gRPC message header announces more than `limit` bytes.
pub struct LimitedBody<B> {
    inner: Pin<Box<B>>,
    limit: usize,
    /// Bytes of the current 5-byte message header seen so far.
    header: [u8; 5],
    header_len: usize,
    /// Bytes of the current message body still to come.
    remaining: usize,
}

impl<B> LimitedBody<B> {
    pub fn new(inner: B, limit: usize) -> Self {
        LimitedBody { inner: Box::pin(inner), limit, header: [0; 5], header_len: 0, remaining: 0 }
    }

    /// Walks the gRPC length-prefixed framing: 1 flag byte, 4 length bytes (big endian), then the message.
    fn scan(&mut self, mut data: &[u8]) -> Result<(), Status> {
        while !data.is_empty() {
            if self.remaining > 0 {
                let skip = self.remaining.min(data.len());
                self.remaining -= skip;
                data = &data[skip..];
                continue;
            }
            let take = (5 - self.header_len).min(data.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&data[..take]);
            self.header_len += take;
            data = &data[take..];
            if self.header_len == 5 {
                let len = u32::from_be_bytes([self.header[1], self.header[2], self.header[3], self.header[4]]) as usize;
                if len > self.limit {
                    return Err(Status::resource_exhausted(format!(
                        "message of {len} bytes exceeds the {}-byte limit; send snapshots in smaller chunks",
                        self.limit
                    )));
                }
                self.remaining = len;
                self.header_len = 0;
            }
        }
        Ok(())
    }
}

impl<B> HttpBody for LimitedBody<B>
where
    B: HttpBody<Data = Bytes>,
    B::Error: Into<tonic::codegen::StdError>,
{
    type Data = Bytes;
    type Error = tonic::codegen::StdError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let frame = ready!(self.inner.as_mut().poll_frame(cx));
        Poll::Ready(match frame {
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref()
                    && let Err(status) = self.scan(data)
                {
                    return Poll::Ready(Some(Err(Box::new(status))));
                }
                Some(Ok(frame))
            }
            Some(Err(e)) => Some(Err(e.into())),
            None => None,
        })
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Wraps a request's body in a [`LimitedBody`].
pub fn limit_request(
    limit: usize,
) -> impl Fn(http::Request<tonic::body::Body>) -> http::Request<tonic::body::Body> + Clone {
    move |request| request.map(|body| tonic::body::Body::new(LimitedBody::new(body, limit)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(len: u32) -> Vec<u8> {
        let mut v = vec![0u8];
        v.extend_from_slice(&len.to_be_bytes());
        v.extend(std::iter::repeat_n(7u8, len as usize));
        v
    }

    #[test]
    fn messages_within_the_limit_pass_in_any_chunking() {
        let mut stream = framed(10);
        stream.extend(framed(16));
        for chunk in [1, 2, 3, 5, 7, 64] {
            let mut body = LimitedBody::new(http_body_util::Empty::<Bytes>::new(), 16);
            for piece in stream.chunks(chunk) {
                body.scan(piece).unwrap();
            }
            assert_eq!((body.header_len, body.remaining), (0, 0));
        }
    }

    #[test]
    fn an_oversized_header_is_refused_before_its_body_arrives() {
        let mut body = LimitedBody::new(http_body_util::Empty::<Bytes>::new(), 16);
        body.scan(&framed(3)).unwrap();
        let mut header = vec![0u8];
        header.extend_from_slice(&17u32.to_be_bytes());
        let status = body.scan(&header).unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(status.message().contains("17 bytes exceeds the 16-byte limit"));
    }
}
