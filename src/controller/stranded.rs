//! Jobs that never reached an agent get an outcome: a controller that stopped between
//! storing a job and publishing it (the record is written first) leaves it `submitted`
//! for good, and so does an asynchronous job no agent took before its caller's wait
//! ended. Agents refuse a job delivered after its start-by time, so once that time is
//! well past, marking it failed cannot contradict a later run.

use std::time::Duration;

use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::job::{JobClient, JobEvent};
use crate::nats::Resources;

/// How often the jobs still `submitted` are checked (the index names them; only their
/// records are read).
const EVERY: Duration = Duration::from_secs(10);

/// Past its start-by time by this much, a job no host acknowledged is taken as stranded:
/// an agent delivered it just in time has recorded `acknowledged` by then.
const GRACE: Duration = Duration::from_secs(5);

pub const REASON: &str = "never started: no agent took it before its start-by time (the \
                      controller may have stopped before sending it); retry the job if it is \
                      still wanted";

/// Marks stranded jobs failed until `cancel`.
pub async fn sweep(resources: Resources, jobs: JobClient, cancel: CancellationToken) {
    loop {
        let now = time::OffsetDateTime::now_utc();
        let index = jobs.feed().index();
        match crate::job::store::stranded(&resources.jobs, index, now - GRACE).await {
            Ok(ids) => {
                for id in ids {
                    tracing::warn!(job_id = %id, "{REASON}");
                    let data = json!({ "error": REASON });
                    jobs.event(&id, JobEvent::Failed, "_api", data).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot check for stranded jobs"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
}
