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
        base: format!("http://{addr}"),
        config: cfg,
        controller: cancel.clone(),
        agents: Default::default(),
        http: reqwest::Client::new(),
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
