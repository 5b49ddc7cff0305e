//! A replicated 3-node JetStream cluster (issue 23): no job dropped without a fault, and a
//! node lost under load costs no error and leaves no job `submitted`.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{token, Cluster, Stack};

/// What the load saw: answers by status (0: no answer), and the bodies of the failures.
#[derive(Default)]
struct Outcome {
    statuses: BTreeMap<u16, usize>,
    failures: Vec<String>,
    slowest: Duration,
}

impl Outcome {
    fn add(&mut self, other: Outcome) {
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_insert(0) += n;
        }
        self.failures.extend(other.failures);
        self.slowest = self.slowest.max(other.slowest);
    }

    fn assert_all_ok(&self, total: usize) {
        let shown: Vec<&String> = self.failures.iter().take(5).collect();
        assert_eq!(
            self.statuses.get(&200).copied().unwrap_or(0),
            total,
            "{:?}; first failures: {shown:#?}",
            self.statuses
        );
    }
}

/// `GET /node/_any/hostname` `total` times from `clients` concurrent clients; request n
/// starts no earlier than n × `pace` after the first (zero: back to back).
async fn load(stack: &Stack, total: usize, clients: usize, pace: Duration) -> Outcome {
    let url = Arc::new(format!("{}/node/_any/hostname", stack.base));
    let t = Arc::new(token(&["admin"], &[]));
    let next = Arc::new(AtomicUsize::new(0));
    let start = tokio::time::Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (http, url, t, next) = (stack.http.clone(), url.clone(), t.clone(), next.clone());
            tokio::spawn(async move {
                let mut seen = Outcome::default();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        break seen;
                    }
                    tokio::time::sleep_until(start + pace * n as u32).await;
                    let began = std::time::Instant::now();
                    let answer = http.get(url.as_str()).bearer_auth(t.as_str()).send().await;
                    let (status, body) = match answer {
                        Ok(r) => (r.status().as_u16(), r.text().await.unwrap_or_default()),
                        Err(e) => (0, e.to_string()),
                    };
                    seen.slowest = seen.slowest.max(began.elapsed());
                    *seen.statuses.entry(status).or_insert(0) += 1;
                    if status != 200 {
                        seen.failures.push(format!("{status}: {body}"));
                    }
                }
            })
        })
        .collect();
    let mut all = Outcome::default();
    for worker in workers {
        all.add(worker.await.expect("load worker"));
    }
    all
}

/// A replicated cluster with three fake agents connected across its nodes.
async fn replicated_stack(cluster: &Cluster) -> Stack {
    Stack::with_fake_agents(cluster.config(3), &["a", "b", "c"]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_thousand_any_jobs_on_a_replicated_cluster_all_answer() {
    let cluster = Cluster::start().await;
    let stack = replicated_stack(&cluster).await;
    let outcome = load(&stack, 3000, 16, Duration::ZERO).await;
    eprintln!("slowest of 3,000: {:?}", outcome.slowest);
    outcome.assert_all_ok(3000);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_killed_under_load_costs_no_error_and_leaves_no_job_submitted() {
    let mut cluster = Cluster::start().await;
    let stack = replicated_stack(&cluster).await;
    let jobs_leader = cluster.stream_leader(&stack.config).await;
    // 50 jobs/s for 16 s; the node with the job stream's leader dies at 4 s and is back
    // at 10 s, so the load covers the election, the reduced cluster and the rejoin.
    let running = load(&stack, 800, 16, Duration::from_millis(20));
    let faults = async {
        tokio::time::sleep(Duration::from_secs(4)).await;
        cluster.nodes[jobs_leader].kill();
        tokio::time::sleep(Duration::from_secs(6)).await;
        cluster.nodes[jobs_leader].restart();
    };
    let (outcome, ()) = tokio::join!(running, faults);
    // The election after the kill takes 4–9 s; the jobs meanwhile wait, they do not fail.
    eprintln!("slowest of 800 across the failover: {:?}", outcome.slowest);
    outcome.assert_all_ok(800);

    // Back to three nodes: every broadcast hears every agent.
    let admin = token(&["admin"], &[]);
    for _ in 0..20 {
        let (status, body) = stack.get("/node/_all/hostname", Some(&admin)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(Stack::hosts(&body), ["a", "b", "c"], "{body}");
    }

    let (status, page) = stack.get("/job?status=submitted", Some(&admin)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total_items"], 0, "jobs left submitted: {page}");
    stack.shutdown().await;
}
