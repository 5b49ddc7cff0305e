//! `osapi client job ...`: list, inspect, delete and retry jobs. With `-j`, `list` and
//! `delete` print the original CLI's own shapes (it synthesised them rather than print the
//! API's body); `--raw` prints the body as it came.

use std::process::ExitCode;

use clap::Subcommand;
use serde::Serialize;

use super::{check, print, print_raw};
use crate::cli::render::{indent, json_text, or_dash, pretty, rows_of, table, Show};
use crate::sdk::endpoint;
use crate::sdk::{Client, CreateJobResponse, JobDetailResponse, JobStatus, ListJobsResponse};

/// `osapi client job ...`.
#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Jobs, newest first, with totals per status.
    List {
        /// submitted, processing, completed, failed or partial_failure.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 10)]
        limit: usize,
        #[arg(long, default_value_t = 0)]
        offset: usize,
    },
    /// A job's request, timeline and per-host responses.
    Get {
        #[arg(long)]
        job_id: String,
    },
    /// Remove a job.
    Delete {
        #[arg(long)]
        job_id: String,
    },
    /// Follow a job's events as they happen (what already happened first); exits 0 when
    /// it completed.
    Watch {
        #[arg(long)]
        job_id: String,
    },
    /// Run a job's request again as a new, linked job.
    Retry {
        #[arg(long)]
        job_id: String,
        /// Target of the new job.
        #[arg(long, default_value = "_any")]
        target_hostname: String,
    },
}

/// Runs a `job` subcommand; `raw` (with `json`) prints the API's body even where the
/// original CLI printed its own shape.
pub async fn run(
    client: &Client,
    command: JobCommand,
    json: bool,
    raw: bool,
) -> anyhow::Result<ExitCode> {
    let own_shape = json && !raw;
    match command {
        JobCommand::List {
            status,
            limit,
            offset,
        } => {
            let list = endpoint::job_list(status.as_deref(), limit, offset);
            if own_shape {
                return list_json(client, list, status.is_some(), limit, offset).await;
            }
            print(client, list, json).await
        }
        JobCommand::Get { job_id } => print(client, endpoint::job_get(&job_id), json).await,
        JobCommand::Delete { job_id } => delete(client, &job_id, json, own_shape).await,
        JobCommand::Watch { job_id } => super::live::watch(client, &job_id, json).await,
        JobCommand::Retry {
            job_id,
            target_hostname,
        } => {
            let retry = endpoint::job_retry(&job_id, Some(&target_hostname));
            print(client, retry, json).await
        }
    }
}

/// `client job list -j` as the original CLI prints it: the page under its own names, with
/// the flags that shaped it. Keys are in alphabetical order, as Go prints a map.
#[derive(Debug, Serialize)]
struct ListJson {
    /// Jobs on this page.
    displayed_jobs: usize,
    /// Whether `--status` was given.
    filter_applied: bool,
    /// The page's items as the API sent them.
    jobs: Vec<serde_json::Value>,
    /// Whether a positive `--limit` applied (the original: `limit > 0`).
    limit_applied: bool,
    /// `--offset` as given (a number, not a flag, in the original too).
    offset_applied: usize,
    /// Totals per status over all jobs; `{}` when the API has none.
    status_counts: serde_json::Map<String, serde_json::Value>,
    /// Jobs matching the filter (the API's `total_items`).
    total_jobs: u64,
}

/// The fields of `GET /job` that [`ListJson`] is made of, kept as JSON so the items stay
/// exactly as the API sent them.
#[derive(Debug, serde::Deserialize)]
struct ListBody {
    total_items: u64,
    #[serde(default)]
    status_counts: Option<serde_json::Map<String, serde_json::Value>>,
    items: Vec<serde_json::Value>,
}

/// Prints `GET /job` as [`ListJson`]; an API error prints its body and exits 1, as every
/// `-j` command does.
async fn list_json(
    client: &Client,
    list: endpoint::Endpoint<ListJobsResponse>,
    filtered: bool,
    limit: usize,
    offset: usize,
) -> anyhow::Result<ExitCode> {
    let resp = client.fetch_raw(&list).await?;
    if !resp.status.is_success() {
        return Ok(print_raw(&resp));
    }
    let body: ListBody = resp.json()?;
    let out = ListJson {
        displayed_jobs: body.items.len(),
        filter_applied: filtered,
        jobs: body.items,
        limit_applied: limit > 0,
        offset_applied: offset,
        status_counts: body.status_counts.unwrap_or_default(),
        total_jobs: body.total_items,
    };
    println!("{}", serde_json::to_string(&out)?);
    Ok(ExitCode::SUCCESS)
}

/// `client job delete -j` as the original CLI prints it (the API answers 204, no body).
#[derive(Debug, Serialize)]
struct DeleteJson<'a> {
    job_id: &'a str,
    /// Always `deleted`.
    status: &'static str,
    /// When the CLI saw the deletion (RFC 3339, seconds).
    timestamp: String,
}

/// Deletes a job. `json`: the original's [`DeleteJson`] when `own_shape`, else the API's
/// (empty) body.
async fn delete(
    client: &Client,
    job_id: &str,
    json: bool,
    own_shape: bool,
) -> anyhow::Result<ExitCode> {
    let resp = client.fetch_raw(&endpoint::job_delete(job_id)).await?;
    if json && (!own_shape || !resp.status.is_success()) {
        // `--raw` (the 204's empty body), or an API error, which `-j` prints as it came.
        return Ok(print_raw(&resp));
    }
    check(resp)?;
    if own_shape {
        let out = DeleteJson {
            job_id,
            status: "deleted",
            timestamp: crate::wire::job::rfc3339_seconds(time::OffsetDateTime::now_utc()),
        };
        println!("{}", serde_json::to_string(&out)?);
    } else {
        println!("\n  Job ID: {job_id}  Status: Deleted");
    }
    Ok(ExitCode::SUCCESS)
}

fn host_status(s: JobStatus) -> &'static str {
    s.as_str()
}

/// `GET /job`: totals and a table.
impl Show for ListJobsResponse {
    fn show(&self) -> String {
        let count = |k: &str| {
            self.status_counts
                .as_ref()
                .and_then(|c| c.get(k).copied())
                .unwrap_or(0)
        };
        let mut out = format!(
            "\n  Total: {}  Submitted: {}  Processing: {}  Completed: {}  Failed: {}  Partial: {}\n\n",
            self.total_items,
            count("submitted"),
            count("processing"),
            count("completed"),
            count("failed"),
            count("partial_failure"),
        );
        let rows = rows_of(&self.items, |j| {
            vec![
                j.id.clone(),
                j.status.as_str().to_owned(),
                j.created.clone(),
                j.target.clone(),
                j.operation.kind.clone(),
            ]
        });
        out.push_str(&table(
            &["job id", "status", "created", "target", "operation"],
            rows,
        ));
        out
    }
}

/// `GET /job/{id}`: summary, request, responses, agent states, timeline and result.
impl Show for JobDetailResponse {
    fn show(&self) -> String {
        let mut out = self.summary();
        out.push_str(&format!(
            "\n  Job Request:\n{}\n",
            indent(&pretty(&self.operation))
        ));
        out.push_str("\n  Agent Responses:\n");
        out.push_str(&self.responses_table());
        out.push_str("\n\n  Agent States:\n");
        out.push_str(&self.states_table());
        out.push_str("\n\n  Timeline:\n");
        out.push_str(&self.timeline_table());
        if let Some(result) = &self.result {
            out.push_str(&format!("\n\n  Job Result:\n{}", indent(&pretty(result))));
        }
        out
    }
}

impl JobDetailResponse {
    /// Id, status, hosts, times, error, retry link and, for several hosts, their tally.
    fn summary(&self) -> String {
        let mut out = format!(
            "\n  Job ID: {}  Status: {}\n  Hostname: {}  Target: {}\n  Created: {}  Updated At: {}\n",
            self.id,
            self.status.as_str(),
            or_dash(self.hostname.as_ref()),
            self.target,
            self.created,
            or_dash(self.updated_at.as_ref()),
        );
        if let Some(e) = &self.error {
            out.push_str(&format!("  Error: {e}\n"));
        }
        if let Some(of) = &self.retry_of {
            out.push_str(&format!("  Retry of: {of}\n"));
        }
        if let Some(states) = self.agent_states.as_ref().filter(|s| s.len() > 1) {
            let n = |want: &[&str]| {
                states
                    .values()
                    .filter(|s| want.contains(&s.status.as_str()))
                    .count()
            };
            out.push_str(&format!(
                "  Agents: {} total ({} completed, {} failed, {} processing)\n",
                states.len(),
                n(&["completed"]),
                n(&["failed"]),
                n(&["acknowledged", "started"]),
            ));
        }
        out
    }

    fn responses_table(&self) -> String {
        let rows = self
            .responses
            .iter()
            .flatten()
            .map(|(_, r)| {
                vec![
                    r.hostname.clone(),
                    host_status(r.status).to_owned(),
                    json_text(r.data.as_ref()),
                    or_dash(r.error.as_ref()),
                ]
            })
            .collect();
        table(&["hostname", "status", "data", "error"], rows)
    }

    fn states_table(&self) -> String {
        let rows = self
            .agent_states
            .iter()
            .flatten()
            .map(|(host, s)| {
                vec![
                    host.clone(),
                    s.status.clone(),
                    or_dash(s.duration.as_ref()),
                    or_dash(s.error.as_ref()),
                ]
            })
            .collect();
        table(&["hostname", "status", "duration", "error"], rows)
    }

    fn timeline_table(&self) -> String {
        let rows = self
            .timeline
            .iter()
            .flatten()
            .map(|e| {
                vec![
                    e.timestamp.clone(),
                    e.event.clone(),
                    e.hostname.clone(),
                    e.message.clone(),
                    or_dash(e.error.as_ref()),
                ]
            })
            .collect();
        table(
            &["timestamp", "event", "hostname", "message", "error"],
            rows,
        )
    }
}

/// `POST /job/{id}/retry`: the new job.
impl Show for CreateJobResponse {
    fn show(&self) -> String {
        let mut out = format!("\n  Job ID: {}  Status: {}", self.job_id, self.status);
        if let Some(rev) = self.revision.filter(|r| *r != 0) {
            out.push_str(&format!("\n  Revision: {rev}"));
        }
        if let Some(of) = &self.retry_of {
            out.push_str(&format!("\n  Retry of: {of}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn job_detail_shows_every_section() {
        let detail: JobDetailResponse = serde_json::from_value(json!({
            "id": "j1", "status": "completed", "created": "2026-01-01T00:00:00Z",
            "operation": {"type": "node.hostname.get", "data": {}},
            "result": {"hostname": "web-01"}, "changed": null, "hostname": "web-01",
            "responses": {"web-01": {"status": "completed", "data": {"hostname": "web-01"},
                                     "changed": null, "hostname": "web-01"}},
            "agent_states": {"web-01": {"status": "completed", "duration": "1.5s"}},
            "timeline": [{"timestamp": "t", "event": "started", "hostname": "web-01",
                          "message": "m"}],
            "target": "_any", "retry_of": "j0"
        }))
        .expect("a job detail");
        let out = detail.show();
        for want in [
            "Job ID: j1  Status: completed",
            "Hostname: web-01  Target: _any",
            "Updated At: -",
            "Retry of: j0",
            "\"type\": \"node.hostname.get\"",
            "1.5s",
            "started",
            "Job Result:",
        ] {
            assert!(out.contains(want), "{want}:\n{out}");
        }
    }
}
