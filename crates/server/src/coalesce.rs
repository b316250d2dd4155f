//! Accepted connections write in as few system calls as the load allows.
//!
//! h2 copies a small DATA frame into its write buffer, but hands one of 256 bytes or more to
//! the socket as it is and flushes before it buffers the next frame. A view answer is about a
//! kilobyte, so each cost its own `writev` and its trailers went in the next one: about two
//! system calls (and two wake-ups of the reader on the other end) per answer, where the health
//! check's few bytes share one call with the answers around them.
//!
//! [`Coalesced`] takes whatever is written into its own buffer. A flush does not write: it wakes
//! the connection's task, which is polled again after the other ready tasks (the answers being
//! computed meanwhile join the buffer) and, as h2 always does, reads its socket first. A read
//! writes out everything buffered, in one call, before it reads. Shutting down writes it out
//! too, and so does a write that finds [`LIMIT`] bytes already waiting, and dropping the
//! connection tries to (a TLS alert is written just before its connection is dropped). One
//! flushed answer waits at most one turn of the scheduler.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Bytes buffered before a write waits for the socket.
pub const LIMIT: usize = 64 * 1024;

pub struct Coalesced {
    io: TcpStream,
    /// Written by the connection, not yet by the socket; `out[sent..]` is still to go.
    out: Vec<u8>,
    sent: usize,
    /// A flush woke the task and the read that writes `out` has not come yet.
    woken: bool,
    /// The socket refused the rest of `out`; its writability wakes the task.
    blocked: bool,
}

impl Coalesced {
    pub fn new(io: TcpStream) -> Coalesced {
        Coalesced {
            io,
            out: Vec::new(),
            sent: 0,
            woken: false,
            blocked: false,
        }
    }

    fn waiting(&self) -> usize {
        self.out.len() - self.sent
    }
}

impl Coalesced {
    /// Writes out everything buffered.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.out.len() {
            match Pin::new(&mut self.io).poll_write(cx, &self.out[self.sent..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(written)) => self.sent += written,
                Poll::Ready(Err(error)) => return Poll::Ready(Err(error)),
                Poll::Pending => {
                    self.blocked = true;
                    return Poll::Pending;
                }
            }
        }
        self.out.clear();
        self.sent = 0;
        self.blocked = false;
        Poll::Ready(Ok(()))
    }

    /// Makes room for more before taking it: only a full buffer waits for the socket.
    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.waiting() >= LIMIT {
            ready!(self.poll_drain(cx))?;
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Coalesced {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.woken = false;
        if this.waiting() > 0 {
            // Pending: the socket is full, and its writability wakes this task to try again.
            if let Poll::Ready(Err(error)) = this.poll_drain(cx) {
                return Poll::Ready(Err(error));
            }
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Coalesced {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_room(cx))?;
        this.out.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        slices: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_room(cx))?;
        let mut taken = 0;
        for slice in slices {
            this.out.extend_from_slice(slice);
            taken += slice.len();
        }
        Poll::Ready(Ok(taken))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.waiting() == 0 {
            return Pin::new(&mut this.io).poll_flush(cx);
        }
        // The next read writes `out`; make sure one comes. A blocked socket wakes the task by
        // itself when it can take more.
        if !this.woken && !this.blocked {
            this.woken = true;
            cx.waker().wake_by_ref();
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

impl Drop for Coalesced {
    fn drop(&mut self) {
        // Best effort, without waiting: what the socket takes now.
        while self.waiting() > 0 {
            match self.io.try_write(&self.out[self.sent..]) {
                Ok(written) if written > 0 => self.sent += written,
                _ => break,
            }
        }
    }
}

impl Connected for Coalesced {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        self.io.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use tokio::net::TcpListener;

    use super::*;

    /// A connected pair: the server's end coalesced, the client's plain.
    async fn pair() -> (Coalesced, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap());
        let (accepted, client) = tokio::join!(listener.accept(), client);
        (Coalesced::new(accepted.unwrap().0), client.unwrap())
    }

    #[tokio::test]
    async fn a_read_first_writes_what_was_flushed() {
        let (mut server, mut client) = pair().await;
        server.write_all(b"answer").await.unwrap();
        server.flush().await.unwrap();
        // The client answers only once it has the bytes, so without the read's write both wait.
        let peer = tokio::spawn(async move {
            let mut got = [0; 6];
            client.read_exact(&mut got).await.unwrap();
            client.write_all(b"next").await.unwrap();
            got
        });
        let mut next = [0; 4];
        tokio::time::timeout(Duration::from_secs(10), server.read_exact(&mut next))
            .await
            .expect("the flushed bytes never left")
            .unwrap();
        assert_eq!(&next, b"next");
        assert_eq!(&peer.await.unwrap(), b"answer");
    }

    #[tokio::test]
    async fn shutdown_writes_everything_even_past_the_limit() {
        let (mut server, mut client) = pair().await;
        let sent: Vec<u8> = (0..3 * LIMIT + 17).map(|index| index as u8).collect();
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            client.read_to_end(&mut got).await.unwrap();
            got
        });
        for chunk in sent.chunks(1000) {
            server.write_all(chunk).await.unwrap();
            server.flush().await.unwrap();
        }
        server.shutdown().await.unwrap();
        assert!(reader.await.unwrap() == sent);
    }

    #[tokio::test]
    async fn dropping_writes_what_the_socket_takes() {
        let (mut server, mut client) = pair().await;
        server.write_all(b"alert").await.unwrap();
        server.flush().await.unwrap();
        drop(server);
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"alert");
    }

    struct CountWakes(AtomicUsize);

    impl Wake for CountWakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn a_flush_with_bytes_waiting_wakes_the_task_once() {
        let (mut server, _client) = pair().await;
        let wakes = Arc::new(CountWakes(AtomicUsize::new(0)));
        let waker = std::task::Waker::from(Arc::clone(&wakes));
        let mut cx = Context::from_waker(&waker);
        let mut server = Pin::new(&mut server);
        assert!(server.as_mut().poll_flush(&mut cx).is_ready());
        assert_eq!(
            wakes.0.load(Ordering::SeqCst),
            0,
            "nothing waiting, no wake"
        );
        assert!(matches!(
            server.as_mut().poll_write(&mut cx, b"frame"),
            Poll::Ready(Ok(5))
        ));
        assert!(server.as_mut().poll_flush(&mut cx).is_ready());
        assert!(server.as_mut().poll_flush(&mut cx).is_ready());
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1);
        assert_eq!(server.waiting(), 5, "a flush alone writes nothing");
    }
}
