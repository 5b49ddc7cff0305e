//! The KV scan sees every live key even while those keys are being rewritten: heartbeats
//! rewrite registry entries all the time, and a scan must never lose one.
mod common;

use async_nats::jetstream::{self, kv};
use common::{nats_client, Nats};
use osapi::nats::kv_scan::scan;

/// A fresh one-entry-per-key bucket on `nats`.
async fn bucket(nats: &Nats, name: &str) -> kv::Store {
    let js = jetstream::new(nats_client(nats.port).await);
    js.create_key_value(kv::Config {
        bucket: name.into(),
        history: 1,
        ..Default::default()
    })
    .await
    .expect("bucket")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_scan_sees_every_key_while_they_are_rewritten() {
    let nats = Nats::start();
    let store = bucket(&nats, "scan").await;
    let keys = ["agents.a", "agents.b", "agents.c"];
    for k in keys {
        store.put(k, "0".into()).await.expect("put");
    }
    let writer = {
        let store = store.clone();
        tokio::spawn(async move {
            for i in 0u64.. {
                let k = keys[(i % 3) as usize];
                let _ = store.put(k, i.to_string().into()).await;
            }
        })
    };
    for round in 0..300 {
        let mut seen: Vec<String> = scan(&store, "agents.*", true)
            .await
            .expect("scan")
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen, keys, "round {round}");
    }
    writer.abort();
}

/// Scans leave no consumers behind: servers cap a stream's consumers (1,000 by default on
/// recent nats-server), and a job listing runs a scan per job on its page.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scans_leave_no_consumers_behind() {
    let nats = Nats::start();
    let store = bucket(&nats, "many").await;
    store.put("k.1", "v".into()).await.expect("put");
    for round in 0..1100 {
        let found = scan(&store, "k.*", round % 2 == 0).await.expect("scan");
        assert_eq!(found.len(), 1, "round {round}");
        // Also an empty match, which reads nothing.
        assert!(scan(&store, "none.*", true).await.expect("scan").is_empty());
    }
    let mut stream = store.stream.clone();
    let info = stream.info().await.expect("info");
    assert_eq!(info.state.consumer_count, 0);
}
