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
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use super::error::ApiError;
use crate::config::ApiConfig;

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
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            permit = slot(&connections, &unserved) => match permit {
                Some(p) => p,
                None => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // EMFILE and friends: wait for descriptors to free up, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
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
        let unserved = unserved.clone();
        tokio::spawn(async move {
            let serve = async {
                match tls {
                    None => connection.serve(stream).await,
                    Some(acceptor) => {
                        match tokio::time::timeout(handshake_limit, acceptor.accept(stream)).await {
                            Ok(Ok(stream)) => connection.serve(stream).await,
                            Ok(Err(e)) => {
                                tracing::debug!(%peer, error = %e, "TLS handshake failed")
                            }
                            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                        }
                    }
                }
            };
            tokio::select! {
                _ = serve => {}
                _ = evicted.cancelled() => tracing::debug!(%peer, "closed for a new connection: no request yet"),
            }
            unserved.served(id);
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
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

/// A connection slot. At the cap, the oldest connection that has not sent a whole
/// request yet (an idle or slowloris one) is closed to make room: a client that sends
/// its request at once is then served at once, instead of waiting in the kernel's
/// backlog behind connections that send nothing.
async fn slot(connections: &Arc<Semaphore>, unserved: &Unserved) -> Option<OwnedSemaphorePermit> {
    if let Ok(p) = connections.clone().try_acquire_owned() {
        return Some(p);
    }
    unserved.evict_oldest();
    connections.clone().acquire_owned().await.ok()
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

    fn evict_oldest(&self) {
        if let Some((_, token)) = self.lock().open.pop_first() {
            token.cancel();
        }
    }
}

impl Connection {
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
