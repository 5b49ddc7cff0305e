//! The controller's own lifecycle: a graceful stop waits for its background tasks.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures::StreamExt;

/// The controller's registry keys (`controller.<host>`) present now.
async fn controller_keys(registry: &async_nats::jetstream::kv::Store) -> Vec<String> {
    let mut keys = Vec::new();
    let Ok(mut stream) = registry.keys().await else {
        return keys;
    };
    while let Some(Ok(k)) = stream.next().await {
        if k.starts_with("controller.") {
            keys.push(k);
        }
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_controller_has_finished_its_background_tasks() {
    let nats = Nats::start();
    let cfg = config(nats.port);
    let client = nats_client(nats.port).await;
    let res =
        osapi::nats::resources::Resources::ensure(&client, &cfg, &cfg.controller.nats.namespace)
            .await
            .expect("resources");
    let listener = osapi::controller::bind(&cfg).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let cancel = tokio_util::sync::CancellationToken::new();
    let served = tokio::spawn(osapi::controller::serve(
        Arc::new(cfg.clone()),
        listener,
        cancel.clone(),
    ));
    let stack = Stack {
        base: base_url(addr, &cfg),
        config: cfg,
        controller: cancel.clone(),
        agents: Default::default(),
        http: http_client(),
    };
    stack.wait_ready().await;
    let mut registered = false;
    for _ in 0..100 {
        if !controller_keys(&res.registry).await.is_empty() {
            registered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(registered, "the controller never wrote its heartbeat");
    cancel.cancel();
    let outcome = tokio::time::timeout(Duration::from_secs(20), served)
        .await
        .expect("the controller stops within its bounded wait")
        .expect("join");
    assert!(outcome.is_ok(), "{:?}", outcome.err());
    // The heartbeat task removes its entry as it ends: when serve has returned, it is gone.
    let left = controller_keys(&res.registry).await;
    assert!(
        left.is_empty(),
        "heartbeat still running after stop: {left:?}"
    );
}

/// Opens a TCP connection to the API that sends nothing, or only half a request.
async fn silent_connection(base: &str, partial: &[u8]) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let addr = base
        .trim_start_matches("http://")
        .trim_start_matches("https://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(partial).await.expect("write");
    stream
}

/// Whether the server closed `stream` within `limit` (a read of 0 bytes).
async fn closed_within(stream: &mut tokio::net::TcpStream, limit: Duration) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(limit, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // a 408 or similar before the close
            Err(_) => return false,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn at_the_cap_the_oldest_unserved_connection_makes_room_and_silent_ones_take_no_slot() {
    let nats = Nats::start();
    let mut cfg = config(nats.port);
    cfg.controller.api.max_connections = 2;
    cfg.controller.api.header_timeout = Duration::from_secs(1);
    let stack = Stack::controller(cfg).await;
    stack.wait_ready().await;
    // The readiness probe's kept-alive connection is closed for idleness first.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // A silent connection: the kernel holds it until it sends data (deferred accept).
    let mut silent = silent_connection(&stack.base, b"").await;
    // Both slots taken by slowloris clients with half their headers. Under TLS a slow
    // client is one stuck in its handshake: a record header, no more.
    let partial: &[u8] = match test_tls() {
        Some(_) => b"\x16\x03\x01\x00",
        None => b"GET /health HTTP/1.1\r\nHost: x\r\n",
    };
    let mut oldest = silent_connection(&stack.base, partial).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut newer = silent_connection(&stack.base, partial).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    // At the cap, a new connection without its whole request is turned away at once.
    let mut turned_away = silent_connection(&stack.base, partial).await;
    assert!(
        closed_within(&mut turned_away, Duration::from_millis(500)).await,
        "an incomplete request at the cap is closed"
    );
    // A third client is served, not failed: the oldest connection that has sent no
    // whole request is closed to make room.
    let fresh = http_client();
    let status = fresh
        .get(format!("{}/health", stack.base))
        .send()
        .await
        .expect("request")
        .status();
    assert_eq!(status, 200, "served at the cap");
    assert!(
        closed_within(&mut oldest, Duration::from_millis(500)).await,
        "the oldest slow connection made room"
    );
    assert!(
        closed_within(&mut newer, Duration::from_secs(3)).await,
        "slowloris closed by the header timeout"
    );
    // Handed over once the kernel stops deferring it, then closed for sending nothing.
    assert!(
        closed_within(&mut silent, Duration::from_secs(15)).await,
        "silent connection closed"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn more_requests_than_max_requests_get_503_with_retry_after() {
    let nats = Nats::start();
    let mut cfg = config(nats.port);
    cfg.controller.api.max_requests = 1;
    let mut stack = Stack::controller(cfg).await;
    stack.wait_ready().await;
    let mut slow = FakeNode::new("slow");
    slow.delay = Duration::from_millis(1500);
    let running = slow.running.clone();
    stack.add_agent("slow", &[], fake_providers(slow));
    stack.wait_agents(&["slow"]).await;
    let call = stack.spawn_get("/api/node/slow/hostname", &token(&["read"], &[]));
    wait_running(&running).await;
    let resp = stack
        .http
        .get(format!("{}/health", stack.base))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let body: serde_json::Value = resp.json().await.expect("json");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or("")
            .contains("controller.api.max_requests"),
        "{body}"
    );
    let (status, _) = call.await.expect("join");
    assert_eq!(status, 200, "the request in flight is served");
    stack.shutdown().await;
}
