//! The HTTP accept loop. It replaces `axum::serve`, which offers no header
//! read timeout and no write timeout. Without them, a client that never
//! finishes its request head, or never reads its response, keeps a
//! connection and the buffered response for ever, and enough such clients
//! leave the server unable to accept anyone.
//!
//! Only HTTP/1.1 is served, because the TLS proxy in front speaks it and
//! HTTP/2 over plain TCP would need timeouts of its own.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::response::Response;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::time::Sleep;
use tower::Service;

/// Pause after a failed accept, such as one for lack of file descriptors,
/// so that the loop does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Connection timeouts of the accept loop.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Time for a client to deliver a complete request head; this also ends
    /// idle keep-alive connections and connections that send nothing.
    pub header_read: Duration,
    /// Time a response write may stall because the client reads nothing.
    pub write_stall: Duration,
    /// Time that open connections get to finish after the shutdown signal.
    pub drain: Duration,
}

/// Serves `app` on `listener` until `shutdown` completes, then waits up to
/// `timeouts.drain` for the open connections to finish their requests.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    S: Service<axum::extract::Request, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);

    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(error) => {
                    tracing::error!(%error, "failed to accept a connection");
                    tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, %remote, "failed to set TCP_NODELAY");
        }
        let service = connection_service(app.clone(), remote);
        let stream = WriteTimeout::new(stream, timeouts.write_stall);
        let connection =
            builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Clients that disconnect or send garbage end here. hyper has
            // already sent any error response it could, so only a debug line remains.
            if let Err(error) = connection.await {
                tracing::debug!(%error, %remote, "connection closed with an error");
            }
        });
    }

    drop(listener);
    if tokio::time::timeout(timeouts.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout_seconds = timeouts.drain.as_secs(),
            "closed connections that were still open after the drain timeout"
        );
    }
}

/// Wraps `app` for one connection: converts hyper's request body and adds the
/// peer address that the client IP extractor reads.
fn connection_service<S>(
    app: S,
    remote: SocketAddr,
) -> impl Service<hyper::Request<Incoming>, Response = Response, Error = Infallible, Future = S::Future>
+ Clone
where
    S: Service<axum::extract::Request, Response = Response, Error = Infallible> + Clone,
{
    tower::util::MapRequest::new(app, move |request: hyper::Request<Incoming>| {
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(ConnectInfo(remote));
        request
    })
}

/// A stream whose writes fail with `TimedOut` once one has waited longer than
/// `timeout` for the client to make room, so a client that stops reading
/// cannot keep its connection and its buffered response for ever.
struct WriteTimeout<T> {
    inner: T,
    timeout: Duration,
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<T> WriteTimeout<T> {
    fn new(inner: T, timeout: Duration) -> Self {
        Self {
            inner,
            timeout,
            stalled: None,
        }
    }

    /// Tracks a write that returned `Pending`: the first one arms the timer,
    /// and the timer firing turns the stall into an error.
    fn poll_stall<R>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<R>> {
        let timeout = self.timeout;
        let timer = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading the response",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn progress<R>(
        &mut self,
        result: Poll<io::Result<R>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<R>> {
        match result {
            Poll::Pending => self.poll_stall(cx),
            ready => {
                self.stalled = None;
                ready
            }
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WriteTimeout<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.progress(result, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.progress(result, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_flush(cx);
        this.progress(result, cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
