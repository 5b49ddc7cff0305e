//! Jobs as they happen: `--async` (print the job id at once), live progress on a terminal
//! (a spinner with the elapsed time; for a broadcast "3/5 hosts answered" and a line per
//! host as it answers), and `osapi client job watch`. Nothing extra with `-j` or when
//! stderr is not a terminal.

use std::future::Future;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::OnceLock;
use std::time::Duration;

use futures::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};

use super::{check, print_raw};
use crate::sdk::{AcceptedJob, Client, JobStatus, JobStreamEvent, OverallStatus};
use crate::wire::ops::Op;
use crate::wire::Collection;

/// `--async`, set once per run from the command line.
static SUBMIT_ASYNC: OnceLock<bool> = OnceLock::new();

/// Records `--async` for this run.
pub(super) fn set_async(on: bool) {
    let _ = SUBMIT_ASYNC.set(on);
}

/// Whether jobs are submitted without waiting (`--async`).
pub(super) fn is_async() -> bool {
    SUBMIT_ASYNC.get().copied().unwrap_or(false)
}

/// Progress goes to stderr on a terminal, never with `-j`.
pub(super) fn progress_wanted(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

/// `--async`: submits and prints the job id (with `-j`, the API's 202 body).
pub(super) async fn submit<O: Op>(
    client: &Client,
    target: &str,
    request: &O::Request,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let resp = client.submit_raw::<O>(target, request).await?;
    if json {
        return Ok(print_raw(&resp));
    }
    let accepted: AcceptedJob = check(resp)?.json()?;
    println!("{}", accepted.job_id);
    Ok(ExitCode::SUCCESS)
}

fn spinner(message: &str) -> ProgressBar {
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}") {
        bar.set_style(style);
    }
    bar.set_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// Awaits `call` behind a spinner showing the elapsed time.
pub(super) async fn with_spinner<T>(message: &str, call: impl Future<Output = T>) -> T {
    let bar = spinner(message);
    let out = call.await;
    bar.finish_and_clear();
    out
}

/// Runs a broadcast submitted asynchronously and followed through its events: "n/m hosts
/// answered" as answers arrive, a line per host, then the per-host answer as a blocking
/// call would have given it (silent hosts as failed items).
pub(super) async fn broadcast<O: Op>(
    client: &Client,
    target: &str,
    request: &O::Request,
) -> anyhow::Result<Collection<O::Item>> {
    let bar = spinner("submitted");
    let mut expected: Option<usize> = None;
    let mut answered = 0;
    let progress = |event: &JobStreamEvent| {
        match event {
            JobStreamEvent::Status(e) if e.event.as_str() == "submitted" => {
                expected = e.data["expected"].as_array().map(Vec::len);
            }
            JobStreamEvent::Result(answer) => {
                bar.println(format!("  {}: {}", answer.hostname, answer.status.as_str()));
                answered += 1;
            }
            _ => {}
        }
        bar.set_message(match expected {
            Some(total) => format!("{answered}/{total} hosts answered"),
            None => format!("{answered} hosts answered"),
        });
    };
    let answer = client.run_followed::<O>(target, request, progress).await;
    bar.finish_and_clear();
    Ok(answer?)
}

/// `osapi client job watch`: prints a job's events as they happen (with `-j`, one JSON
/// object per line: `{"event": ..., "data": ...}`); exits 0 when it completed.
pub(super) async fn watch(client: &Client, job_id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let mut events = client.job_events(job_id).await?;
    let mut status = None;
    while let Some(event) = events.next().await {
        let event = event?;
        if json {
            let data: serde_json::Value = serde_json::from_str(&event.data()?).unwrap_or_default();
            println!(
                "{}",
                serde_json::json!({"event": event.name(), "data": data})
            );
        } else {
            println!("{}", line(&event));
        }
        if let JobStreamEvent::Done(done) = event {
            status = Some(done.status);
        }
    }
    Ok(match status {
        Some(OverallStatus::Completed) => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    })
}

/// One event as a line: time, event, host, detail.
fn line(event: &JobStreamEvent) -> String {
    let (time, host, detail) = match event {
        JobStreamEvent::Status(e) => {
            let detail = e.data["error"].as_str().unwrap_or_default().to_owned();
            (e.timestamp.clone(), e.hostname.clone(), detail)
        }
        JobStreamEvent::Result(r) => {
            let detail = match (r.status, &r.error) {
                (JobStatus::Completed, _) => match r.changed {
                    Some(true) => "changed".to_owned(),
                    _ => "ok".to_owned(),
                },
                (_, Some(error)) => error.clone(),
                (status, None) => status.as_str().to_owned(),
            };
            (r.timestamp.clone(), r.hostname.clone(), detail)
        }
        JobStreamEvent::Done(d) => (d.timestamp.clone(), "-".into(), d.status.as_str().into()),
    };
    format!("{time}  {:<12}  {host:<20}  {detail}", event.name())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdk::{JobDone, JobResponse};

    #[test]
    fn lines_name_the_event_host_and_outcome() {
        let result = JobStreamEvent::Result(JobResponse {
            job_id: "j".into(),
            status: JobStatus::Failed,
            data: None,
            error: Some("boom".into()),
            field: None,
            changed: None,
            hostname: "web-01".into(),
            timestamp: "t1".into(),
        });
        let text = line(&result);
        assert!(text.starts_with("t1  result"), "{text}");
        assert!(text.contains("web-01") && text.ends_with("boom"), "{text}");
        let done = JobStreamEvent::Done(JobDone {
            job_id: "j".into(),
            status: OverallStatus::PartialFailure,
            timestamp: "t2".into(),
        });
        assert!(line(&done).ends_with("partial_failure"));
    }
}
