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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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

/// What one request of the load got.
#[derive(Clone, Debug, PartialEq)]
enum Outcome {
    /// 2xx, with the job id of the answer.
    Ok(String),
    Status(u16),
    /// Refused, reset, or no answer in time.
    NoAnswer,
}

#[derive(Clone, Debug)]
struct Sample {
    began: Instant,
    ended: Instant,
    outcome: Outcome,
}

/// Clients asking back to back, alternately a hostname read (waiting for its answer) and
/// an asynchronous `true` command.
struct Load {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    clients: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(d: &Deployment, token: &str, clients: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let clients = (0..clients)
            .map(|_| {
                let (stop, samples) = (stop.clone(), samples.clone());
                let (base, token) = (d.url(""), token.to_owned());
                std::thread::spawn(move || {
                    for i in 0.. {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let sample = one_request(&base, &token, i % 2 == 0);
                        let failed = !matches!(sample.outcome, Outcome::Ok(_));
                        samples.lock().expect("lock").push(sample);
                        if failed {
                            std::thread::sleep(Duration::from_millis(20));
                        }
                    }
                })
            })
            .collect();
        Self {
            stop,
            samples,
            clients,
        }
    }

    /// When the first request begun after `t` succeeded.
    fn first_ok_after(&self, t: Instant) -> Option<Instant> {
        let samples = self.samples.lock().expect("lock");
        samples
            .iter()
            .filter(|s| s.began >= t && matches!(s.outcome, Outcome::Ok(_)))
            .map(|s| s.ended)
            .min()
    }

    fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        for c in self.clients {
            c.join().expect("load client");
        }
        let samples = self.samples.lock().expect("lock");
        samples.clone()
    }
}

fn one_request(base: &str, token: &str, read: bool) -> Sample {
    let request = if read {
        client().get(format!("{base}/node/_any/hostname"))
    } else {
        client()
            .post(format!("{base}/node/_any/command/exec?async=true"))
            .json(&json!({"command": "true"}))
    };
    let began = Instant::now();
    let sent = request
        .bearer_auth(token)
        .timeout(Duration::from_secs(10))
        .send();
    let outcome = match sent {
        Ok(r) if r.status().is_success() => {
            let body: Value = r.json().unwrap_or_default();
            Outcome::Ok(body["job_id"].as_str().unwrap_or_default().to_owned())
        }
        Ok(r) => Outcome::Status(r.status().as_u16()),
        Err(_) => Outcome::NoAnswer,
    };
    Sample {
        began,
        ended: Instant::now(),
        outcome,
    }
}

/// Stops the controller with `signal`, leaves the port closed for a second, starts a new
/// one; returns it, when it was stopped and when the new one was spawned.
fn restart_controller(
    d: &Deployment,
    controller: &mut common::real::Proc,
    signal: Signal,
) -> (Instant, Instant) {
    let status = stop(controller, signal);
    if signal == Signal::SIGTERM {
        assert!(status.success(), "graceful stop failed: {status}");
    }
    let down = Instant::now();
    std::thread::sleep(Duration::from_secs(1));
    *controller = d.controller();
    (down, Instant::now())
}

/// The controller SIGKILLed, then SIGTERMed, under load: calls during the gap find no
/// server, jobs succeed again soon after the restart, and no job is left unfinished.
#[test]
fn controller_restarts_under_load_leave_no_job_behind() {
    let d = Deployment::new(|_| {});
    let token = common::token(&["admin"], &[]);
    let mut controller = d.controller();
    let _agent = d.agent(HOST);
    d.wait_hostname_ok("_any", &token);
    let load = Load::start(&d, &token, 4);
    let mut gaps = Vec::new();
    for signal in [Signal::SIGKILL, Signal::SIGTERM] {
        std::thread::sleep(Duration::from_secs(2));
        let (down, up) = restart_controller(&d, &mut controller, signal);
        wait_until(
            "a job to succeed after the restart",
            Duration::from_secs(30),
            || load.first_ok_after(up).is_some(),
        );
        let ok = load.first_ok_after(up).expect("a success");
        eprintln!(
            "{signal}: first success {:?} after the restart ({:?} after the stop)",
            ok - up,
            ok - down
        );
        gaps.push((down, up));
    }
    std::thread::sleep(Duration::from_secs(1));
    let samples = load.finish();
    check_load(&samples, &gaps);
    let settled = wait_all_final(&d, &token, Duration::from_secs(60));
    let counts = d.job_counts(&token).expect("counts");
    eprintln!("all jobs final {settled:?} after the load: {counts:?}");
    let accepted: std::collections::HashSet<&str> = samples
        .iter()
        .filter_map(|s| match &s.outcome {
            Outcome::Ok(id) => Some(id.as_str()),
            _ => None,
        })
        .collect();
    check_failed_jobs(&d, &token, &accepted);
    let completed = counts.get("completed").copied().unwrap_or(0);
    assert!(completed >= accepted.len(), "{counts:?}");
}

/// A failed job is one a stopped controller stored but never sent: no caller was told
/// about it, and it says it never started.
fn check_failed_jobs(d: &Deployment, token: &str, accepted: &std::collections::HashSet<&str>) {
    let (status, page) = d
        .get("/job?status=failed&limit=100", token)
        .expect("failed jobs");
    assert_eq!(status, 200, "{page}");
    let failed = page["items"].as_array().cloned().unwrap_or_default();
    eprintln!("{} job(s) stored but never sent", failed.len());
    for job in &failed {
        let id = job["id"].as_str().unwrap_or_default();
        assert!(!accepted.contains(id), "an accepted job failed: {job}");
        let error = job["error"].as_str().unwrap_or_default();
        assert!(error.contains("never started"), "{job}");
    }
}

/// Calls made entirely while no controller ran got no answer; the rest were answered
/// 2xx, or 503 while a new controller connects to NATS.
fn check_load(samples: &[Sample], gaps: &[(Instant, Instant)]) {
    let mut by_outcome: BTreeMap<String, usize> = BTreeMap::new();
    for s in samples {
        let during_gap = gaps
            .iter()
            .any(|(down, up)| s.began >= *down && s.ended <= *up);
        if during_gap {
            assert_eq!(s.outcome, Outcome::NoAnswer, "answered with no controller");
        }
        let key = match &s.outcome {
            Outcome::Ok(_) => "2xx".to_owned(),
            Outcome::Status(code) => code.to_string(),
            Outcome::NoAnswer => "no answer".to_owned(),
        };
        *by_outcome.entry(key).or_default() += 1;
    }
    eprintln!("{} requests: {by_outcome:?}", samples.len());
    let unexpected: Vec<_> = by_outcome
        .keys()
        .filter(|k| !["2xx", "503", "no answer"].contains(&k.as_str()))
        .collect();
    assert!(unexpected.is_empty(), "{by_outcome:?}");
}

/// Audit entries stored for `path`, read straight from the audit bucket's stream.
fn stored_audit_entries(nats_port: u16, path: &str) -> usize {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(common::audit_entries_with_path(nats_port, path))
}

/// Audited calls in the burst (`OSAPI_CHAOS_AUDIT_BURST`, default 10,000).
fn audit_burst() -> usize {
    std::env::var("OSAPI_CHAOS_AUDIT_BURST")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// A burst of audited calls against the real binary, then SIGTERM at once: the writer
/// stores every entry before the process exits (back-pressure, never a drop).
#[test]
fn an_audited_burst_then_sigterm_stores_every_entry() {
    let burst = audit_burst();
    let d = Deployment::new(|_| {});
    let token = common::token(&["admin"], &[]);
    let mut controller = d.controller();
    // Ready once a NATS-backed call answers (404: no such agent).
    wait_until(
        "the controller to reach NATS",
        Duration::from_secs(60),
        || {
            d.get("/agent/warm-up", &token)
                .is_some_and(|(s, _)| s == 404)
        },
    );
    let began = Instant::now();
    let url = d.url("/agent/burst");
    std::thread::scope(|s| {
        for w in 0..8 {
            let (url, token) = (&url, &token);
            s.spawn(move || {
                for _ in (w..burst).step_by(8) {
                    let r = client().get(url).bearer_auth(token).send().expect("call");
                    assert_eq!(r.status().as_u16(), 404);
                }
            });
        }
    });
    let answered = began.elapsed();
    assert!(stop(&mut controller, Signal::SIGTERM).success());
    let stored = stored_audit_entries(d.nats.port, "/agent/burst");
    eprintln!(
        "{burst} calls answered in {answered:?}, stopped {:?} later; {stored} entries stored",
        began.elapsed() - answered
    );
    assert_eq!(stored, burst, "{}", d.log_tails());
}
