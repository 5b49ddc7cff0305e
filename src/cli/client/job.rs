//! `osapi client job ...`: list, inspect, delete and retry jobs.

use std::process::ExitCode;

use clap::Subcommand;

use super::{check, print, print_raw};
use crate::cli::render::{indent, json_text, or_dash, pretty, rows_of, table, Show};
use crate::sdk::endpoint;
use crate::sdk::{Client, CreateJobResponse, JobDetailResponse, JobStatus, ListJobsResponse};

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
    /// Run a job's request again as a new, linked job.
    Retry {
        #[arg(long)]
        job_id: String,
        /// Target of the new job.
        #[arg(long, default_value = "_any")]
        target_hostname: String,
    },
}

/// Runs a `job` subcommand.
pub async fn run(client: &Client, command: JobCommand, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        JobCommand::List {
            status,
            limit,
            offset,
        } => {
            let list = endpoint::job_list(status.as_deref(), limit, offset);
            print(client, list, json).await
        }
        JobCommand::Get { job_id } => print(client, endpoint::job_get(&job_id), json).await,
        JobCommand::Delete { job_id } => delete(client, &job_id, json).await,
        JobCommand::Retry {
            job_id,
            target_hostname,
        } => {
            let retry = endpoint::job_retry(&job_id, Some(&target_hostname));
            print(client, retry, json).await
        }
    }
}

async fn delete(client: &Client, job_id: &str, json: bool) -> anyhow::Result<ExitCode> {
    let resp = client.fetch_raw(&endpoint::job_delete(job_id)).await?;
    if json {
        return Ok(print_raw(&resp));
    }
    check(resp)?;
    println!("\n  Job ID: {job_id}  Status: Deleted");
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
