//! Chaos with real processes (issue 23): a harness nats-server per test, the `osapi`
//! binary as controller and agents, HTTP to them; processes are killed mid-work and the
//! outcome of every job is checked against what its command left on disk.
//!
//! Timings are reported on stderr (`--nocapture`); the assertions are about outcomes,
//! with generous deadlines. `benches/connection_limits.rs` measures the API under idle and
//! slowloris connections.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::real::{client, stop, wait_until, Deployment};
use nix::sys::signal::Signal;
use serde_json::{json, Value};

/// The agent's identity; the replacement agent takes the same one.
const HOST: &str = "chaos-host";

/// What a submitted job does.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Kind {
    /// `GET .../hostname`: a read, which may run again.
    Read,
    /// `POST .../command/exec` appending the shell's pid to its own marker file.
    Exec,
}

struct Job {
    n: usize,
    id: String,
    kind: Kind,
}

/// Job `n`: even ones read, odd ones exec; alternately on the shared `_any` consumer and
/// on the agent's own one (its hostname).
fn submit(d: &Deployment, token: &str, markers: &Path, n: usize) -> Job {
    let target = if n % 4 < 2 { "_any" } else { HOST };
    let kind = if n % 2 == 0 { Kind::Read } else { Kind::Exec };
    let request = match kind {
        Kind::Read => client().get(d.url(&format!("/node/{target}/hostname?async=true"))),
        Kind::Exec => {
            let marker = markers.join(format!("marker-{n}"));
            // The pid goes to the marker and to stdout, so the answer names the run.
            let script = format!("echo $$ >> {}; echo $$; sleep 1", marker.display());
            client()
                .post(d.url(&format!("/node/{target}/command/exec")))
                .header("Prefer", "respond-async")
                .json(&json!({"command": "sh", "args": ["-c", script], "timeout": 30}))
        }
    };
    let resp = request.bearer_auth(token).send().expect("submit");
    let status = resp.status().as_u16();
    let body: Value = resp.json().unwrap_or_default();
    assert_eq!(status, 202, "job {n}: {body}");
    let id = body["job_id"].as_str().expect("job_id").to_owned();
    Job { n, id, kind }
}

/// Submits `count` jobs from four threads; returns them in submission order.
fn submit_all(d: &Deployment, token: &str, markers: &Path, count: usize) -> Vec<Job> {
    let mut jobs: Vec<Job> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..4)
            .map(|w| {
                s.spawn(move || {
                    (w..count)
                        .step_by(4)
                        .map(|n| submit(d, token, markers, n))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("submitter"))
            .collect()
    });
    jobs.sort_by_key(|j| j.n);
    jobs
}

fn marker_lines(markers: &Path, n: usize) -> Vec<String> {
    std::fs::read_to_string(markers.join(format!("marker-{n}")))
        .map(|t| t.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

fn markers_written(markers: &Path) -> usize {
    std::fs::read_dir(markers).map_or(0, |d| d.count())
}

/// Waits until no job is `submitted` or `processing`; the time it took.
fn wait_all_final(d: &Deployment, token: &str, timeout: Duration) -> Duration {
    let began = Instant::now();
    let mut last = None;
    while began.elapsed() < timeout {
        if let Some(counts) = d.job_counts(token) {
            let open = counts.get("submitted").copied().unwrap_or(0)
                + counts.get("processing").copied().unwrap_or(0);
            if open == 0 {
                return began.elapsed();
            }
            last = Some(counts);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!(
        "jobs still open after {timeout:?}: {last:?}\n{}",
        d.log_tails()
    );
}

/// How one job ended, as checked against its marker file.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone, Copy)]
enum Verdict {
    ReadCompleted,
    ExecCompleted,
    /// Started by the killed agent, reported failed rather than run again.
    NotReRun,
    /// Never started; reported failed (too late to start).
    NotStarted,
}

/// Checks one job's final status and reason against what its command did.
fn verdict(job: &Job, detail: &Value, markers: &Path) -> Verdict {
    let lines = marker_lines(markers, job.n);
    assert!(lines.len() <= 1, "job {} ran twice: {lines:?}", job.n);
    let answer = detail["responses"]
        .as_object()
        .and_then(|r| r.values().find(|a| a["hostname"] == HOST))
        .unwrap_or_else(|| panic!("job {} has no answer from {HOST}: {detail}", job.n));
    let started = detail["timeline"].as_array().map_or(0, |t| {
        t.iter()
            .filter(|e| e["event"] == "started" && e["hostname"] == HOST)
            .count()
    });
    let error = answer["error"].as_str().unwrap_or_default();
    match (job.kind, answer["status"].as_str()) {
        (Kind::Read, Some("completed")) => Verdict::ReadCompleted,
        (Kind::Exec, Some("completed")) => {
            // Exactly once, and by the run that answered: the marker holds its pid.
            let stdout = answer["data"]["stdout"].as_str().unwrap_or_default();
            assert_eq!(lines, [stdout.trim()], "job {}: {detail}", job.n);
            Verdict::ExecCompleted
        }
        (Kind::Exec, Some("failed")) if error.contains("not re-run") => {
            assert!(
                started >= 1,
                "job {} not re-run but never started: {detail}",
                job.n
            );
            Verdict::NotReRun
        }
        (Kind::Exec, Some("failed")) if error.contains("not started") => {
            assert!(
                lines.is_empty(),
                "job {} 'not started' but ran: {detail}",
                job.n
            );
            Verdict::NotStarted
        }
        _ => panic!(
            "job {} ({:?}) ended unexpectedly: {detail}",
            job.n, job.kind
        ),
    }
}

/// 200 jobs in flight, the agent SIGKILLed mid-way and replaced by a new one of the same
/// name: every job ends, nothing runs twice, and each outcome says what happened.
fn agent_sigkill_with_jobs_in_flight(back_off: Vec<Duration>) {
    const JOBS: usize = 200;
    let redelivery = back_off[0];
    let d = Deployment::new(|c| {
        c.agent.consumer.back_off = back_off;
        // Reads interrupted by the kill are redelivered after back_off[0]; a caller that
        // waits longer than that lets them run again instead of being refused as late.
        c.controller.api.job_timeout = Duration::from_secs(90);
    });
    let token = common::token(&["admin"], &[]);
    let _controller = d.controller();
    let mut victim = d.agent(HOST);
    d.wait_hostname_ok(HOST, &token);
    let markers = tempfile::tempdir().expect("markers dir");
    let submitted = Instant::now();
    let jobs = submit_all(&d, &token, markers.path(), JOBS);
    eprintln!("{JOBS} jobs submitted in {:?}", submitted.elapsed());
    // Mid-way: a quarter of the commands ran, the agent is busy with more.
    wait_until(
        "a quarter of the commands to run",
        Duration::from_secs(60),
        || markers_written(markers.path()) >= JOBS / 8,
    );
    stop(&mut victim, Signal::SIGKILL);
    let killed = Instant::now();
    let ran_before = markers_written(markers.path());
    let _survivor = d.agent(HOST);
    let settled = wait_all_final(&d, &token, Duration::from_secs(60));
    let mut tally: BTreeMap<Verdict, usize> = BTreeMap::new();
    for job in &jobs {
        let (status, detail) = d.get(&format!("/job/{}", job.id), &token).expect("job");
        assert_eq!(status, 200, "{detail}");
        *tally
            .entry(verdict(job, &detail, markers.path()))
            .or_default() += 1;
    }
    eprintln!(
        "back_off[0] {redelivery:?}: killed {:?} after submitting ({ran_before} commands had \
         run), all final {settled:?} after the kill ({:?} in all); {tally:?}",
        killed - submitted,
        submitted.elapsed()
    );
    // The kill landed mid-job: some command had started and was not run again.
    assert!(tally.contains_key(&Verdict::NotReRun), "{tally:?}");
    assert_eq!(tally.values().sum::<usize>(), JOBS);
}

#[test]
fn agent_sigkill_with_200_jobs_in_flight_short_back_off() {
    agent_sigkill_with_jobs_in_flight(vec![Duration::from_secs(1)]);
}

#[test]
fn agent_sigkill_with_200_jobs_in_flight_default_back_off() {
    let default = osapi::config::Config::default().agent.consumer.back_off;
    agent_sigkill_with_jobs_in_flight(default);
}
