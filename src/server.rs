//! The HTTP/1.1 server: an accept loop over hyper with the connection-level limits axum::serve
//! does not expose (header size, header read timeout), and a graceful shutdown with a deadline.
//!
//! HTTP/1.1 only: the clients of this API (fetch in Node and the Edge runtime, other back ends
//! behind a balancer) speak it, and hyper's header read timeout, the defence against clients that
//! trickle their headers, exists only for HTTP/1.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpSocket};

/// hyper refuses a request head that does not fit its read buffer with a bare 431 (no body);
/// the buffer is this much larger than `--max-header-bytes`, so that the router sees heads up to
/// well past the limit and answers them with a problem document.
const HEAD_BUFFER_SLACK: usize = 8 * 1024;

#[derive(Debug, Clone)]
pub struct ServerOptions {
    pub max_header_bytes: usize,
    pub header_read_timeout: Duration,
    pub grace_period: Duration,
}

/// Pending connections the kernel queues before `accept`: a restart's new process takes over a
/// loaded port, so this is larger than the usual 128.
const LISTEN_BACKLOG: u32 = 1024;

/// Binds `address` as `TcpListener::bind` does (SO_REUSEADDR on Unix), and with `reuse_port` also
/// SO_REUSEPORT: then a second process can bind the same port while the first still holds it, and
/// the kernel spreads new connections over both until the old one closes its listener at shutdown.
/// Connections still in the old listener's backlog at that moment are reset; the adapter retries
/// reads on a reset (docs/deployment.md).
pub fn bind(address: std::net::SocketAddr, reuse_port: bool) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    if reuse_port {
        #[cfg(all(unix, not(target_os = "solaris"), not(target_os = "illumos")))]
        socket.set_reuseport(true)?;
        #[cfg(not(all(unix, not(target_os = "solaris"), not(target_os = "illumos"))))]
        return Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "SO_REUSEPORT is not available here"));
    }
    socket.bind(address)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Why the server stopped without finishing every request.
#[derive(Debug, thiserror::Error)]
pub enum ShutdownError {
    #[error("the shutdown grace period ({0:?}) ended with {1} connection(s) still open; they were dropped")]
    GracePeriodExceeded(Duration, usize),
    #[error("a second shutdown signal arrived with {0} connection(s) still open; they were dropped")]
    SecondSignal(usize),
}

/// Serves `app` until `signal` completes; then stops accepting (new connections are refused),
/// lets the requests in flight finish (idle keep-alive connections are closed, busy ones are
/// closed after their response) and returns once every connection is done, or an error when
/// the grace period ends or `signal` fires again first.
pub async fn serve<S, F>(
    listener: TcpListener,
    app: Router,
    options: &ServerOptions,
    signal: S,
) -> Result<(), ShutdownError>
where
    S: Fn() -> F,
    F: Future<Output = ()>,
{
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout)
        .max_buf_size(options.max_header_bytes + HEAD_BUFFER_SLACK);
    let graceful = GracefulShutdown::new();
    let open = Arc::new(AtomicUsize::new(0));
    let first_signal = signal();
    tokio::pin!(first_signal);
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    tracing::trace!(%peer, "connection accepted");
                    stream
                }
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // the listener itself is fine, so back off briefly and go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut first_signal => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let connection = graceful.watch(connection);
        let counted = OpenConnection::new(&open);
        tokio::spawn(async move {
            let _counted = counted;
            // Client disconnects and header read timeouts end up here; neither is the server's fault.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tracing::info!(
        open_connections = open.load(Ordering::Relaxed),
        grace_period_ms = options.grace_period.as_millis() as u64,
        "shutdown signal received; refusing new connections, finishing requests in flight"
    );
    let still_open = || open.load(Ordering::Relaxed);
    tokio::select! {
        () = graceful.shutdown() => Ok(()),
        () = tokio::time::sleep(options.grace_period) => {
            Err(ShutdownError::GracePeriodExceeded(options.grace_period, still_open()))
        }
        () = signal() => Err(ShutdownError::SecondSignal(still_open())),
    }
}

/// Counts a connection as open until its task ends.
struct OpenConnection(Arc<AtomicUsize>);

impl OpenConnection {
    fn new(open: &Arc<AtomicUsize>) -> Self {
        open.fetch_add(1, Ordering::Relaxed);
        Self(Arc::clone(open))
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}
