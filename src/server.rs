//! The HTTP accept loop. It replaces `axum::serve` because that offers no
//! header read timeout: without one, clients that open connections and
//! never finish their request head hold a file descriptor each, for ever,
//! until the server can accept no one else.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::Service;

/// Pause after a failed accept, such as one for lack of file descriptors,
/// so that the loop does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Serves `app` on `listener` until `shutdown` completes, then waits up to
/// `drain_timeout` for the open connections to finish their requests.
/// A connection that does not deliver a complete request head within
/// `header_read_timeout` is closed; this also ends idle keep-alive
/// connections after that time.
pub async fn serve<S>(
    listener: TcpListener,
    app: S,
    header_read_timeout: Duration,
    drain_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) where
    S: Service<axum::extract::Request, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
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
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
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
    if tokio::time::timeout(drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout_seconds = drain_timeout.as_secs(),
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
