//! Recovery after the nats-server dies (issue 23: "supervised nats-server SIGKILL: jobs
//! succeed again within 2 s").
//!
//! `OSAPI_BENCH_CLIENTS` (4) clients ask `GET /node/_any/hostname` back to back, each
//! request bounded by 10 s. Each of `OSAPI_BENCH_ROUNDS` (5) rounds SIGKILLs the
//! nats-server, starts it again after 250 ms (as `osapi nats server start` does) and
//! measures, from the kill: the first answer 200 again, the time until every client has
//! had a 200 again, the slowest request in the round, and the non-2xx answers by status.
//!
//! Run: `cargo bench --bench nats_restart` (`OSAPI_BENCH_SHOW_ERRORS=1` prints the bodies
//! of failed requests).

mod support;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{env_or, Bench};

/// What one request did: when it ended, its status (0: no answer), how long it took.
type Sample = (Instant, u16, Duration);

/// Supervisor's restart delay.
const DOWN: Duration = Duration::from_millis(250);
/// Load before and after each kill.
const SETTLE: Duration = Duration::from_secs(3);

fn main() {
    support::block_on(run());
}

async fn run() {
    let clients = env_or("OSAPI_BENCH_CLIENTS", 4);
    let rounds = env_or("OSAPI_BENCH_ROUNDS", 5);
    let mut bench = Bench::start().await;
    let samples: Arc<Mutex<Vec<Vec<Sample>>>> = Arc::new(Mutex::new(vec![Vec::new(); clients]));
    let stop = tokio_util::sync::CancellationToken::new();
    for client in 0..clients {
        let (samples, stop) = (samples.clone(), stop.clone());
        let request = bench
            .get("/node/_any/hostname")
            .timeout(Duration::from_secs(10));
        tokio::spawn(async move {
            while !stop.is_cancelled() {
                let began = Instant::now();
                let status = match request.try_clone().expect("clone").send().await {
                    Ok(r) if r.status() != 200 => {
                        let status = r.status().as_u16();
                        let body = r.text().await.unwrap_or_default();
                        if std::env::var_os("OSAPI_BENCH_SHOW_ERRORS").is_some() {
                            eprintln!("{status} {body}");
                        }
                        status
                    }
                    Ok(r) => r.status().as_u16(),
                    Err(_) => 0,
                };
                let sample = (Instant::now(), status, began.elapsed());
                samples.lock().expect("lock")[client].push(sample);
                if status != 200 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        });
    }
    println!("{clients} clients, {rounds} rounds, nats-server down {DOWN:?} each");
    for round in 1..=rounds {
        tokio::time::sleep(SETTLE).await;
        samples
            .lock()
            .expect("lock")
            .iter_mut()
            .for_each(Vec::clear);
        let killed = Instant::now();
        tokio::task::block_in_place(|| bench.kill_and_restart_nats(DOWN));
        tokio::time::sleep(SETTLE * 4).await;
        let taken = samples.lock().expect("lock").clone();
        print_round(round, killed, &taken);
    }
    stop.cancel();
}

fn print_round(round: usize, killed: Instant, per_client: &[Vec<Sample>]) {
    let since = |at: Instant| at.saturating_duration_since(killed).as_secs_f64();
    let all: Vec<&Sample> = per_client.iter().flatten().collect();
    let first_ok = all
        .iter()
        .filter(|(at, status, took)| *status == 200 && at.checked_sub(*took) > Some(killed))
        .map(|(at, ..)| *at)
        .min();
    // A client has recovered at its first 200 after its last failure.
    let recovered = per_client
        .iter()
        .map(|samples| {
            let last_bad = samples.iter().rposition(|(_, status, _)| *status != 200);
            let start = last_bad.map_or(0, |i| i + 1);
            samples[start..]
                .iter()
                .find(|(_, s, _)| *s == 200)
                .map(|(at, ..)| *at)
        })
        .collect::<Option<Vec<_>>>()
        .and_then(|ats| ats.into_iter().max());
    let slowest = all.iter().map(|(.., took)| *took).max().unwrap_or_default();
    let mut failures: BTreeMap<u16, usize> = BTreeMap::new();
    for (_, status, _) in all.iter().filter(|(_, s, _)| !(200..300).contains(s)) {
        *failures.entry(*status).or_default() += 1;
    }
    let seconds =
        |at: Option<Instant>| at.map_or("never".to_owned(), |a| format!("{:.2}s", since(a)));
    println!(
        "round {round}: first 200 after {}, all clients ok after {}, slowest request {:.2}s, \
         {} requests, non-2xx by status (0 = no answer) {failures:?}",
        seconds(first_ok),
        seconds(recovered),
        slowest.as_secs_f64(),
        all.len(),
    );
}
