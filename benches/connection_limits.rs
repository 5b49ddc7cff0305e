//! The controller under connection exhaustion (issue 23): the real binary, started with
//! a file limit of 1024 (`RLIMIT_NOFILE`), holds `OSAPI_BENCH_IDLE` (2,000) idle TCP
//! connections and `OSAPI_BENCH_SLOW` (2,000) slowloris ones (a request's headers, a byte
//! every `SLOW_EVERY`), each reopened when the server closes it, while one client asks
//! `GET /health` and `GET /node/_any/hostname` in turn, each on a new connection, for
//! `OSAPI_BENCH_SECONDS` (20). Reported: p50/p99 of each and the non-2xx answers;
//! acceptance is p99 <= 100 ms and no non-2xx.
//!
//! Run: `cargo bench --bench connection_limits`.

mod support;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use support::processes::{self, Processes};
use support::{env_or, report};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SERVER_FILES: u64 = 1024;
const SLOW_EVERY: Duration = Duration::from_secs(3);

fn main() {
    // Thousands of sockets on this side too.
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("raise the file limit");
    support::block_on(run());
}

/// nats-server, controller (file limit 1024) and agent, as processes; stopped on drop.
fn start() -> Processes {
    processes::start(|controller| {
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
        unsafe {
            controller.pre_exec(|| {
                setrlimit(Resource::RLIMIT_NOFILE, SERVER_FILES, SERVER_FILES)
                    .map_err(std::io::Error::from)
            });
        }
    })
}

async fn run() {
    let (idle, slow) = (
        env_or("OSAPI_BENCH_IDLE", 2000),
        env_or("OSAPI_BENCH_SLOW", 2000),
    );
    let seconds = env_or("OSAPI_BENCH_SECONDS", 20) as u64;
    let p = start();
    // A new connection per request: the kind of client the hogs compete with.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let base = format!("http://{}", p.api);
    processes::warm_up(&http, &base, &p.token, 20).await;
    let quiet = measure(&http, &base, &p.token, Duration::from_secs(5)).await;
    print("no hogs", quiet);
    let stop = tokio_util::sync::CancellationToken::new();
    let hogs = start_hogs(p.api.clone(), idle, slow, stop.clone());
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!("{idle} idle + {slow} slowloris connections, server file limit {SERVER_FILES}");
    let before = p.usages();
    let loaded = measure(&http, &base, &p.token, Duration::from_secs(seconds)).await;
    print("under hogs", loaded);
    for (((name, _), before), after) in p.pids.iter().zip(before).zip(p.usages()) {
        let cpu = after.cpu_seconds - before.cpu_seconds;
        println!("{name}: {cpu:.1} CPU seconds in {seconds} s under hogs");
    }
    stop.cancel();
    let _ = hogs.join();
}

/// The hogs on a thread and runtime of their own, as an attacker would be on a machine of
/// its own: the measuring client then never waits in the hogs' run queue, only for CPU.
fn start_hogs(
    api: String,
    idle: usize,
    slow: usize,
    stop: tokio_util::sync::CancellationToken,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("hog runtime");
        runtime.block_on(async move {
            let mut hogs = tokio::task::JoinSet::new();
            for n in 0..idle + slow {
                let (api, stop) = (api.clone(), stop.clone());
                hogs.spawn(async move { hog(&api, n >= idle, stop).await });
            }
            while hogs.join_next().await.is_some() {}
        })
    })
}

/// One hostile connection, reopened whenever the server closes it: silent, or sending a
/// request's headers a line at a time, never finishing them.
async fn hog(api: &str, slowloris: bool, stop: tokio_util::sync::CancellationToken) {
    while !stop.is_cancelled() {
        let Ok(mut conn) = TcpStream::connect(api).await else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        if slowloris {
            let _ = conn.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await;
        }
        let mut buf = [0u8; 256];
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                // 0 bytes or an error: the server closed it.
                read = conn.read(&mut buf) => if !matches!(read, Ok(n) if n > 0) { break },
                _ = tokio::time::sleep(SLOW_EVERY), if slowloris => {
                    if conn.write_all(b"X").await.is_err() { break }
                }
            }
        }
    }
}

/// Latencies of `/health` and the hostname job, and non-2xx answers (0: no answer).
struct Taken {
    health: Vec<Duration>,
    job: Vec<Duration>,
    failures: BTreeMap<u16, usize>,
}

async fn measure(http: &reqwest::Client, base: &str, token: &str, how_long: Duration) -> Taken {
    let mut t = Taken {
        health: Vec::new(),
        job: Vec::new(),
        failures: BTreeMap::new(),
    };
    let end = Instant::now() + how_long;
    while Instant::now() < end {
        for (path, job) in [("/health", false), ("/node/_any/hostname", true)] {
            let began = Instant::now();
            let status = match http
                .get(format!("{base}{path}"))
                .bearer_auth(token)
                .send()
                .await
            {
                Ok(r) => r.status().as_u16(),
                Err(_) => 0,
            };
            let took = began.elapsed();
            if !(200..300).contains(&status) {
                *t.failures.entry(status).or_default() += 1;
            }
            match job {
                true => t.job.push(took),
                false => t.health.push(took),
            }
        }
    }
    t
}

fn print(label: &str, t: Taken) {
    println!(
        "{label}: non-2xx by status (0 = no answer) {:?}",
        t.failures
    );
    report(&format!("{label} GET /health"), t.health);
    report(&format!("{label} GET /node/_any/hostname"), t.job);
}
