//! retry: a flaky step that fails twice, then succeeds. `.retry(3)` allows up to three
//! more attempts immediately; `.retry_with_backoff(n, initial, max)` waits `initial`,
//! doubling up to `max`, between attempts. The live report prints a `[retry]` line per
//! failed attempt.
//!
//! DAG:
//!   flaky            (retry 3, no wait)
//!   flaky-backoff    (retry 3, 200ms, 400ms, ... capped at 1s)
//!   get-hostname     (retry with backoff, 10s timeout per attempt)
//!
//! Run: `cargo run --example retry` (with OSAPI_TOKEN set)

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use osapi::orchestrator::{Orchestrator, TaskError, TaskOutput};
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut o = Orchestrator::from_env()?;

    // Each flaky step counts its calls and fails the first two.
    for name in ["flaky", "flaky-backoff"] {
        let calls = Arc::new(AtomicU32::new(0));
        let step = o.task_func(name, move |_client, _results| {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if n <= 2 {
                    return Err(TaskError::msg(format!("attempt {n}: not ready yet")));
                }
                Ok(TaskOutput::changed(json!({ "succeeded_on_attempt": n })))
            }
        });
        if name == "flaky" {
            step.retry(3);
        } else {
            step.retry_with_backoff(3, Duration::from_millis(200), Duration::from_secs(1));
        }
    }

    // Retries work on any step, e.g. an API call; a timeout bounds each attempt.
    o.node_hostname_get("_any")
        .retry_with_backoff(2, Duration::from_millis(500), Duration::from_secs(2))
        .timeout(Duration::from_secs(10));

    let report = o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;
    for task in &report.tasks {
        println!(
            "{}: {} after {} attempt(s)",
            task.name, task.status, task.attempts
        );
    }
    Ok(())
}
