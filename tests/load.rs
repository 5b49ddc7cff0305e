//! Sustained load: thousands of jobs, broadcasts and listings leave no JetStream consumers
//! behind, no job stuck `submitted`, and only the configured in-flight bound answers 503.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use osapi::nats::Names;

/// Consumers of the stream behind `bucket` (a KV bucket name from the config).
async fn consumers(nats: &Nats, config: &osapi::config::Config, bucket: &str) -> usize {
    let name = Names::new(&config.controller.nats.namespace).infra(bucket);
    stream_consumers(nats, &format!("KV_{name}")).await
}

async fn stream_consumers(nats: &Nats, stream: &str) -> usize {
    let js = async_nats::jetstream::new(nats_client(nats.port).await);
    let mut stream = js.get_stream(stream).await.expect("stream");
    stream.info().await.expect("info").state.consumer_count
}

fn objects_bucket(config: &osapi::config::Config) -> String {
    Names::new(&config.controller.nats.namespace).infra(&config.nats.objects.bucket)
}

/// Runs `total` GETs of `path` from `clients` concurrent clients; counts answers by status.
async fn hammer(stack: &Stack, path: &str, total: usize, clients: usize) -> BTreeMap<u16, usize> {
    let t = Arc::new(token(&["admin"], &[]));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, url, t, next) = (
            stack.http.clone(),
            format!("{}{path}", stack.base),
            t.clone(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut seen = BTreeMap::new();
            while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < total {
                let status = match http.get(&url).bearer_auth(t.as_str()).send().await {
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                };
                *seen.entry(status).or_insert(0) += 1;
            }
            seen
        }));
    }
    let mut all = BTreeMap::new();
    for task in tasks {
        for (status, n) in task.await.expect("client task") {
            *all.entry(status).or_insert(0) += n;
        }
    }
    all
}

async fn two_agents(nats: &Nats, tweak: impl FnOnce(&mut osapi::config::Config)) -> Stack {
    let mut config = config(nats.port);
    tweak(&mut config);
    Stack::with_fake_agents(config, &["a", "b"]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_thousand_jobs_all_answer_and_leave_no_consumer() {
    let nats = Nats::start();
    let stack = two_agents(&nats, |_| {}).await;
    let bucket = stack.config.nats.kv.response_bucket.clone();
    let before = consumers(&nats, &stack.config, &bucket).await;

    let unicast = hammer(&stack, "/node/_any/hostname", 3000, 16).await;
    assert_eq!(unicast, BTreeMap::from([(200, 3000)]), "unicast answers");
    let broadcast = hammer(&stack, "/node/_all/hostname", 500, 16).await;
    assert_eq!(broadcast, BTreeMap::from([(200, 500)]), "broadcast answers");

    assert_eq!(
        consumers(&nats, &stack.config, &bucket).await,
        before,
        "response stream consumers"
    );
    let t = token(&["admin"], &[]);
    let (status, page) = stack.get("/job?status=submitted", Some(&t)).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["total_items"], 0, "jobs left submitted: {page}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_job_listings_in_a_row_all_answer() {
    let nats = Nats::start();
    let stack = two_agents(&nats, |_| {}).await;
    assert_eq!(
        hammer(&stack, "/node/_any/hostname", 50, 4).await,
        BTreeMap::from([(200, 50)])
    );
    let bucket = stack.config.nats.kv.bucket.clone();
    let before = consumers(&nats, &stack.config, &bucket).await;
    let listings = hammer(&stack, "/job?limit=20", 1000, 16).await;
    assert_eq!(listings, BTreeMap::from([(200, 1000)]), "listing answers");
    assert_eq!(
        consumers(&nats, &stack.config, &bucket).await,
        before,
        "job stream consumers"
    );

    let t = token(&["admin"], &[]);
    for name in ["a.conf", "b.conf"] {
        assert_eq!(stack.upload(&t, name, "raw", b"x=1\n", false).await.0, 201);
    }
    let objects = format!("OBJ_{}", objects_bucket(&stack.config));
    let before = stream_consumers(&nats, &objects).await;
    let files = hammer(&stack, "/file", 1000, 16).await;
    assert_eq!(files, BTreeMap::from([(200, 1000)]), "file listing answers");
    assert_eq!(
        stream_consumers(&nats, &objects).await,
        before,
        "object stream consumers"
    );
    let (_, listed) = stack.get("/file", Some(&t)).await;
    assert_eq!(listed["total"], 2, "{listed}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_the_inflight_bound_answers_503_with_retry_after() {
    let nats = Nats::start();
    let mut config = config(nats.port);
    config.controller.api.max_inflight = 2;
    let mut stack = Stack::controller(config).await;
    stack.wait_ready().await;
    let mut slow = FakeNode::new("slow");
    slow.delay = Duration::from_millis(1500);
    let running = slow.running.clone();
    stack.add_agent_with("slow", &[], fake_providers(slow), |c| {
        c.agent.max_jobs = 4;
    });
    stack.wait_agents(&["slow"]).await;

    let t = token(&["admin"], &[]);
    let held: Vec<_> = (0..2)
        .map(|_| stack.spawn_get("/node/slow/hostname", &t))
        .collect();
    wait_running(&running).await;
    let resp = stack
        .http
        .get(format!("{}/node/slow/hostname", stack.base))
        .bearer_auth(&t)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 503);
    assert_eq!(
        resp.headers().get("retry-after").map(|v| v.as_bytes()),
        Some(&b"1"[..])
    );
    let body: serde_json::Value = resp.json().await.expect("json");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("max_inflight")),
        "{body}"
    );
    for h in held {
        assert_eq!(h.await.expect("held request").0, 200);
    }
    // The slots are free again.
    let (status, body) = stack.get("/node/slow/hostname", Some(&t)).await;
    assert_eq!(status, 200, "{body}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_job_that_cannot_be_published_is_failed_not_left_submitted() {
    let nats = Nats::start();
    let stack = two_agents(&nats, |_| {}).await;
    // Without the JOBS stream the record is stored but its notification has no stream.
    let js = async_nats::jetstream::new(nats_client(nats.port).await);
    let names = Names::new(&stack.config.controller.nats.namespace);
    js.delete_stream(names.infra(&stack.config.nats.stream.name))
        .await
        .expect("delete JOBS");

    let t = token(&["admin"], &[]);
    let (status, body) = stack.get("/node/_any/hostname", Some(&t)).await;
    assert_eq!(status, 503, "{body}");
    let (_, submitted) = stack.get("/job?status=submitted", Some(&t)).await;
    assert_eq!(submitted["total_items"], 0, "{submitted}");
    let (_, failed) = stack.get("/job?status=failed", Some(&t)).await;
    assert_eq!(failed["total_items"], 1, "{failed}");
    let error = failed["items"][0]["error"].to_string();
    assert!(error.contains("not published"), "{}", failed["items"][0]);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn answers_the_subscription_missed_are_read_from_the_bucket() {
    let nats = Nats::start();
    let stack = two_agents(&nats, |_| {}).await;
    let client = nats_client(nats.port).await;
    let config = &stack.config;
    let resources =
        osapi::nats::Resources::ensure(&client, config, &config.controller.nats.namespace)
            .await
            .expect("resources");
    // A hub that has already stopped hears nothing: every answer must come from the bucket.
    let stopped = tokio_util::sync::CancellationToken::new();
    stopped.cancel();
    let signer = osapi::security::job_keys::JobSigner::load(config).expect("the job key");
    let signing = (std::sync::Arc::new(signer), Duration::from_secs(60));
    let wait = Duration::from_secs(10);
    let jobs = osapi::job::JobClient::start(client, resources, wait, signing, stopped)
        .await
        .expect("job client");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let target = osapi::job::Target::parse("_all").expect("target");
    let expected = ["a".to_owned(), "b".to_owned()];
    let started = std::time::Instant::now();
    let outcome = jobs
        .run(osapi::job::Submit {
            job: osapi::job::NewJob {
                op: "node.hostname.get",
                kind: osapi::job::OpKind::Query,
                data: serde_json::json!({}),
                target: &target,
            },
            expected: &expected,
            wait: Duration::from_secs(10),
        })
        .await
        .expect("outcome");
    let hosts: Vec<&str> = outcome
        .responses
        .iter()
        .map(|r| r.hostname.as_str())
        .collect();
    assert_eq!(hosts, ["a", "b"]);
    assert!(outcome.missing.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "answers were only found at the deadline: {:?}",
        started.elapsed()
    );
    stack.shutdown().await;
}
