//! What this machine's NATS can do at best, measured on the bench's own nats-server: the
//! floor under every job figure. Machines differ (a raw request-reply took 0.09 ms on the
//! machine issue 22 was filed on, 0.36 ms on a slower one), so job figures are read
//! against the floor printed beside them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::percentile;
use super::processes::usage;

/// Samples per latency figure.
const SAMPLES: usize = 500;
/// Puts for the CPU figure, and how many are in flight at once.
const PUTS: usize = 20_000;
const IN_FLIGHT: usize = 64;

/// Prints one line: a raw request-reply's and a KV put's p50, one at a time, and the
/// nats-server CPU per KV put with 64 in flight.
pub async fn print(nats_url: &str, nats_pid: i32) {
    let client = echo_client(nats_url).await;
    let js = async_nats::jetstream::new(client.clone());
    let config = async_nats::jetstream::kv::Config {
        bucket: "bench-floor".into(),
        ..Default::default()
    };
    let kv = js.create_key_value(config).await.expect("bucket");
    let body = bytes::Bytes::from(vec![b'x'; 512]);
    let mut rr = request_reply(&client, SAMPLES).await;
    let mut put = Vec::new();
    for i in 0..SAMPLES {
        let t = Instant::now();
        kv.put(format!("one.{i}"), body.clone()).await.expect("put");
        put.push(t.elapsed());
    }
    let cpu_before = usage(nats_pid).cpu_seconds;
    let next = Arc::new(AtomicUsize::new(0));
    let writers: Vec<_> = (0..IN_FLIGHT)
        .map(|_| {
            let (kv, next, body) = (kv.clone(), next.clone(), body.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= PUTS {
                        break;
                    }
                    kv.put(format!("many.{i}"), body.clone())
                        .await
                        .expect("put");
                }
            })
        })
        .collect();
    for w in writers {
        w.await.expect("writer");
    }
    let cpu_us = (usage(nats_pid).cpu_seconds - cpu_before) * 1e6 / PUTS as f64;
    js.delete_key_value("bench-floor")
        .await
        .expect("delete bucket");
    println!(
        "floor on this machine: NATS request-reply p50 {:.3} ms, KV put p50 {:.3} ms, nats-server CPU {cpu_us:.0} µs per KV put ({IN_FLIGHT} in flight)",
        ms(&mut rr),
        ms(&mut put),
    );
}

fn ms(samples: &mut [Duration]) -> f64 {
    samples.sort();
    percentile(samples, 0.5).as_secs_f64() * 1000.0
}

/// The subject [`echo_client`]'s responder answers.
pub const ECHO: &str = "bench.floor.echo";

/// A client whose requests on [`ECHO`] are answered by a responder on a connection of its
/// own: a raw request-reply, the floor under every job.
pub async fn echo_client(nats_url: &str) -> async_nats::Client {
    let client = async_nats::connect(nats_url).await.expect("connect");
    let responder = async_nats::connect(nats_url).await.expect("connect");
    let mut echo = responder.subscribe(ECHO).await.expect("subscribe");
    responder.flush().await.expect("flush");
    tokio::spawn(async move {
        while let Some(msg) = echo.next().await {
            if let Some(reply) = msg.reply {
                let _ = responder.publish(reply, msg.payload).await;
            }
        }
    });
    client
}

/// How long each of `n` sequential raw request-replies took, after 20 unmeasured ones.
pub async fn request_reply(client: &async_nats::Client, n: usize) -> Vec<Duration> {
    for _ in 0..20 {
        let _ = client.request(ECHO, "warm".into()).await;
    }
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        client
            .request(ECHO, "hostname".into())
            .await
            .expect("request-reply");
        samples.push(t.elapsed());
    }
    samples
}
