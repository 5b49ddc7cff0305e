//! Serving the API's connections under limits: a cap on open connections, a deadline for
//! a request's headers (which also closes idle keep-alive connections, and bounds a TLS
//! handshake), a cap on requests at once and a time limit per request, then a graceful
//! stop.
//!
//! `axum::serve` sets none of these, so one slow or idle client per file descriptor could
//! take the API down (slowloris); this accept loop is axum's with the limits added.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::error::ApiError;
use crate::config::ApiConfig;

/// The kernel's queue of connections not accepted yet (clamped to `net.core.somaxconn`,
/// 4096 on current kernels). Deep, so that under a flood a new client's SYN is queued
/// rather than dropped and resent a second later.
const ACCEPT_BACKLOG: u32 = 4096;

/// Listens on `addr` (`host:port`, the first of its addresses that binds). The kernel
/// hands over a connection only once it has sent data or after `first_data`
/// (`TCP_DEFER_ACCEPT`): connections that send nothing never take a slot, and every
/// HTTP or TLS client speaks first.
pub async fn listen(addr: &str, first_data: Duration) -> std::io::Result<TcpListener> {
    let mut failure = None;
    for addr in tokio::net::lookup_host(addr).await? {
        match listen_on(addr, first_data) {
            Ok(listener) => return Ok(listener),
            Err(e) => failure = Some(e),
        }
    }
    Err(failure.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::AddrNotAvailable, "no address to bind")
    }))
}

fn listen_on(addr: SocketAddr, first_data: Duration) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    // As `TcpListener::bind`: a restart binds while old connections are in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    defer_accept(&socket, first_data);
    socket.listen(ACCEPT_BACKLOG)
}

/// Sets `TCP_DEFER_ACCEPT`; without it (not Linux, or refused) connections are accepted
/// at once, as before, so a failure is only logged.
fn defer_accept(socket: &TcpSocket, wait: Duration) {
    use std::os::fd::AsRawFd;
    let seconds = libc::c_int::try_from(wait.as_secs().max(1)).unwrap_or(libc::c_int::MAX);
    // SAFETY: the descriptor is the open socket `socket` owns, and the option value is a
    // c_int passed with its size, as tcp(7) asks.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            std::ptr::from_ref(&seconds).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        tracing::warn!(error = %e, "cannot defer accepting connections until they send data");
    }
}

/// Serves `app` on `listener` until `shutdown`, then lets open requests finish. With
/// `tls` every connection is a TLS one, its handshake bounded by `header_timeout` too.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &ApiConfig,
    tls: Option<Arc<rustls::ServerConfig>>,
    shutdown: CancellationToken,
) {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let tls = tls.map(TlsAcceptor::from);
    // HTTP/1.1, which the API's clients speak. (hyper-util's auto builder first reads the
    // connection to tell HTTP/2 apart, with no deadline: a client that sent nothing would
    // hold its slot forever.)
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let unserved = Unserved::default();
    while let Some((stream, peer)) = accept(&listener, &shutdown).await {
        let permit = match connections.clone().try_acquire_owned() {
            Ok(permit) => permit,
            // At the cap a connection that has not sent its whole request is closed at
            // once: in a flood that costs a peek, not a task, so the accept loop gets
            // through the kernel's queue to the real clients in it quickly.
            Err(_) if !whole_request_arrived(&stream, tls.is_some()) => {
                // A reset: no FIN exchange or TIME_WAIT to keep for it.
                let _ = stream.set_zero_linger();
                continue;
            }
            Err(_) => {
                unserved.evict_oldest();
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    permit = connections.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                }
            }
        };
        let (id, evicted) = unserved.add();
        let connection = Connection {
            builder: builder.clone(),
            app: app.clone(),
            peer,
            // Taken now, so a stop waits for a handshake under way too.
            watcher: graceful.watcher(),
            unserved: (unserved.clone(), id),
        };
        let (tls, handshake_limit) = (tls.clone(), limits.header_timeout);
        tokio::spawn(async move {
            let unserved = connection.unserved.0.clone();
            tokio::select! {
                _ = connection.run(stream, tls, handshake_limit) => {}
                _ = evicted.cancelled() => tracing::debug!(%peer, "closed for a new connection: no request yet"),
            }
            unserved.served(id);
            drop(permit);
        });
        // Lets the new connection's task (next on this worker) read its request now,
        // rather than after the accept loop has worked through a flood's queue.
        tokio::task::yield_now().await;
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The next connection, or `None` once `shutdown` fires.
async fn accept(
    listener: &TcpListener,
    shutdown: &CancellationToken,
) -> Option<(TcpStream, SocketAddr)> {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => return Some(accepted),
                Err(e) => {
                    // EMFILE and friends: wait for descriptors to free up, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// Bytes looked at for a whole request; a longer request head counts as whole.
const PEEK_BYTES: usize = 4096;

/// Whether `stream` already holds a whole request head (under TLS, a whole first
/// handshake record), looked at without taking it off the socket.
fn whole_request_arrived(stream: &TcpStream, tls: bool) -> bool {
    use nix::sys::socket::{recv, MsgFlags};
    use std::os::fd::AsRawFd;
    let mut buf = [0u8; PEEK_BYTES];
    let flags = MsgFlags::MSG_PEEK | MsgFlags::MSG_DONTWAIT;
    match recv(stream.as_raw_fd(), &mut buf, flags) {
        Ok(n) => is_whole_request(buf.get(..n).unwrap_or_default(), tls),
        Err(_) => false,
    }
}

/// Whether `head`, the first bytes a client sent, is a whole HTTP request head (ended
/// by an empty line) or, under `tls`, a whole TLS record (its 5-byte header gives the
/// length).
fn is_whole_request(head: &[u8], tls: bool) -> bool {
    if head.len() >= PEEK_BYTES {
        return true;
    }
    if tls {
        return match head.get(3..5) {
            Some(&[high, low]) => head.len() >= 5 + usize::from(u16::from_be_bytes([high, low])),
            _ => false,
        };
    }
    head.windows(4).any(|w| w == b"\r\n\r\n")
}

/// One accepted connection, ready to be served once its transport is set up.
struct Connection {
    builder: http1::Builder,
    app: Router,
    peer: SocketAddr,
    watcher: Watcher,
    /// Left once the connection's first request arrives.
    unserved: (Unserved, u64),
}

/// Open connections that have not had a request yet, oldest first, each with what closes it.
#[derive(Clone, Default)]
struct Unserved(Arc<std::sync::Mutex<Inner>>);

#[derive(Default)]
struct Inner {
    next: u64,
    open: std::collections::BTreeMap<u64, CancellationToken>,
}

impl Unserved {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn add(&self) -> (u64, CancellationToken) {
        let mut inner = self.lock();
        let (id, token) = (inner.next, CancellationToken::new());
        inner.next += 1;
        inner.open.insert(id, token.clone());
        (id, token)
    }

    /// The connection had a request (or ended): it is no longer a candidate.
    fn served(&self, id: u64) {
        self.lock().open.remove(&id);
    }

    /// Closes the oldest, to make room for a client that sent its whole request at the
    /// cap: it is then served at once, instead of waiting behind connections that send
    /// nothing useful.
    fn evict_oldest(&self) {
        if let Some((_, token)) = self.lock().open.pop_first() {
            token.cancel();
        }
    }
}

impl Connection {
    /// Serves `stream`, first as TLS when `tls` is set (its handshake bounded by
    /// `handshake_limit`).
    async fn run(self, stream: TcpStream, tls: Option<TlsAcceptor>, handshake_limit: Duration) {
        let Some(acceptor) = tls else {
            return self.serve(stream).await;
        };
        let peer = self.peer;
        match tokio::time::timeout(handshake_limit, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => self.serve(stream).await,
            Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
        }
    }

    async fn serve<IO>(self, io: IO)
    where
        IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let peer = self.peer;
        let (unserved, id) = self.unserved;
        // The audit log records the caller's address.
        let service = self
            .app
            .map_request(move |req: hyper::Request<hyper::body::Incoming>| {
                unserved.served(id);
                let mut req = req.map(axum::body::Body::new);
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let conn = self
            .builder
            .serve_connection(TokioIo::new(io), TowerToHyperService::new(service));
        if let Err(e) = self.watcher.watch(conn).await {
            tracing::debug!(%peer, error = %e, "connection ended");
        }
    }
}

/// The request limits [`limit_requests`] applies.
#[derive(Clone)]
pub struct RequestLimits {
    slots: Arc<Semaphore>,
    max_requests: usize,
    timeout: Duration,
}

impl RequestLimits {
    pub fn new(config: &ApiConfig) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(config.max_requests)),
            max_requests: config.max_requests,
            timeout: config.request_timeout,
        }
    }
}

/// At most `max_requests` at once and none longer than `request_timeout`: beyond
/// either, 503 with `Retry-After`.
pub async fn limit_requests(
    State(limits): State<RequestLimits>,
    req: Request,
    next: Next,
) -> Response {
    let Ok(_slot) = limits.slots.clone().try_acquire_owned() else {
        return ApiError::Busy(format!(
            "too many requests at once (controller.api.max_requests = {})",
            limits.max_requests
        ))
        .into_response();
    };
    match tokio::time::timeout(limits.timeout, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Busy(format!(
            "the request took longer than controller.api.request_timeout ({}s)",
            limits.timeout.as_secs()
        ))
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::routing::get;

    #[test]
    fn eviction_closes_the_oldest_unserved_connection() {
        let unserved = Unserved::default();
        let tokens: Vec<(u64, CancellationToken)> = (0..3).map(|_| unserved.add()).collect();
        unserved.served(tokens[0].0);
        unserved.evict_oldest();
        let closed: Vec<bool> = tokens.iter().map(|(_, t)| t.is_cancelled()).collect();
        assert_eq!(closed, [false, true, false], "a served one is never closed");
    }

    #[test]
    fn a_whole_request_is_a_head_ended_by_an_empty_line_or_a_whole_tls_record() {
        assert!(is_whole_request(
            b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n",
            false
        ));
        assert!(!is_whole_request(
            b"GET /health HTTP/1.1\r\nHost: x\r\n",
            false
        ));
        assert!(!is_whole_request(b"", false));
        assert!(
            is_whole_request(&[b'a'; PEEK_BYTES], false),
            "a long head is judged by hyper"
        );
        let mut hello = vec![0x16, 0x03, 0x01, 0x00, 0x03, 1, 2];
        assert!(!is_whole_request(&hello, true));
        hello.push(3);
        assert!(is_whole_request(&hello, true));
        assert!(!is_whole_request(&[0x16, 0x03, 0x01, 0x00], true));
    }

    #[tokio::test]
    async fn a_request_past_its_time_limit_is_503_with_retry_after() {
        let config = ApiConfig {
            request_timeout: Duration::from_millis(50),
            ..ApiConfig::default()
        };
        let app = Router::new()
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    "late"
                }),
            )
            .route("/quick", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(
                RequestLimits::new(&config),
                limit_requests,
            ));
        let call = |path: &'static str| {
            let request = Request::get(path).body(Body::empty()).expect("request");
            app.clone().oneshot(request)
        };
        let slow = call("/slow").await.expect("response");
        assert_eq!(slow.status(), 503);
        assert_eq!(slow.headers()["retry-after"], "1");
        let body = axum::body::to_bytes(slow.into_body(), 4096)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&body);
        assert!(text.contains("controller.api.request_timeout"), "{text}");
        assert_eq!(call("/quick").await.expect("response").status(), 200);
    }
}
