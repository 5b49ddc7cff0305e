//! A simulated fleet (the fleet_scale bench's, smaller): every agent answers a broadcast,
//! and the agent listing shows each with its facts and drain state.

mod common;

#[path = "../benches/support/fleet.rs"]
mod fleet;

use std::time::Duration;

use common::*;

const AGENTS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_simulated_agent_answers_a_broadcast() {
    let nats = Nats::start();
    let stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    let admin = token(&["admin"], &[]);
    let fleet = fleet::Fleet::start(&stack.config, AGENTS, "sim", Duration::from_millis(10));
    let listed = || async { listing(&stack, &admin).await.len() };
    fleet.wait_registered(listed, Duration::from_secs(30)).await;

    let (status, body) = stack.get("/node/_all/hostname", Some(&admin)).await;
    assert_eq!(status, 200, "{body}");
    let mut answered: Vec<String> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] == "ok")
        .map(|r| r["hostname"].as_str().expect("hostname").to_owned())
        .collect();
    answered.sort();
    assert_eq!(answered, fleet.names, "every agent answers, each as itself");

    let (status, body) = stack.post_empty("/agent/sim-0007/drain", &admin).await;
    assert_eq!(status, 200, "{body}");
    // Facts are written beside the first heartbeat, so the last agents' may come later.
    let mut agents = Vec::new();
    for _ in 0..100 {
        agents = listing(&stack, &admin).await;
        if agents.iter().all(|a| a["kernel_version"] == "6.1.0-sim") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for agent in &agents {
        let drained = agent["hostname"] == "sim-0007";
        assert_eq!(agent["state"] != "Ready", drained, "{agent}");
        assert_eq!(
            agent["kernel_version"], "6.1.0-sim",
            "facts listed: {agent}"
        );
    }
}

/// The agents `GET /agent` lists.
async fn listing(stack: &Stack, token: &str) -> Vec<serde_json::Value> {
    let (status, body) = stack.get("/agent", Some(token)).await;
    assert_eq!(status, 200, "{body}");
    body["agents"].as_array().cloned().unwrap_or_default()
}
