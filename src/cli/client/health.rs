//! `osapi client health|controller|nats|metrics ...`: liveness, readiness, the full status
//! (or one component type's part of it) and the Prometheus metrics.

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Subcommand;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::check;
use crate::cli::render::{bytes, dash, list, or_dash, rows_of, table, Show};
use crate::config::Config;
use crate::sdk::endpoint::{self, Endpoint};
use crate::sdk::{Client, ComponentHealth, HealthResponse, RawResponse, RegistryEntry};
use crate::sdk::{ConsumerCounts, StatusResponse};

#[derive(Debug, Subcommand)]
pub enum HealthCommand {
    /// GET /health.
    Liveness,
    /// GET /health/ready (not ready is shown, not an error).
    Ready,
    /// GET /health/status.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum StatusOnly {
    /// Show status.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// Print the Prometheus text.
    Get {
        /// Metrics URL (default from controller.metrics: http://<host>:<port><telemetry.metrics.path>).
        #[arg(long)]
        metrics_url: Option<String>,
    },
}

/// Runs a `health` subcommand.
pub async fn run(client: &Client, command: HealthCommand, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        HealthCommand::Liveness => probe(client, endpoint::health_liveness(), json).await,
        HealthCommand::Ready => probe(client, endpoint::health_ready(), json).await,
        HealthCommand::Status => probe(client, endpoint::health_status(), json).await,
    }
}

/// Prints a health answer; 503 here is an answer about health, not a failed call.
async fn probe<T: Show + DeserializeOwned>(
    client: &Client,
    endpoint: Endpoint<T>,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let resp = client.fetch_raw(&endpoint).await?;
    if json {
        println!("{}", resp.body.trim_end());
        return Ok(ExitCode::SUCCESS);
    }
    let resp = unless_unavailable(resp)?;
    println!("{}", endpoint.parse(&resp)?.show());
    Ok(ExitCode::SUCCESS)
}

/// The answer unless its status is an error other than 503.
fn unless_unavailable(resp: RawResponse) -> anyhow::Result<RawResponse> {
    if resp.status.as_u16() == 503 {
        Ok(resp)
    } else {
        check(resp)
    }
}

/// The registry entries of one component type (`agent`, `controller`, `nats`): with `-j`
/// as a JSON array of the entries as the API sent them.
pub async fn component_status(client: &Client, kind: &str, json: bool) -> anyhow::Result<ExitCode> {
    let endpoint = endpoint::health_status();
    let resp = unless_unavailable(client.fetch_raw(&endpoint).await?)?;
    if json {
        let body: Value = resp.json()?;
        let entries: Vec<&Value> = body["registry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["type"] == kind)
            .collect();
        println!("{}", serde_json::to_string(&entries)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", status_view(&endpoint.parse(&resp)?, Some(kind)));
    Ok(ExitCode::SUCCESS)
}

/// Prints the controller's Prometheus text.
pub async fn metrics(config: &Config, url: Option<String>) -> anyhow::Result<ExitCode> {
    let m = &config.controller.metrics;
    let host = if m.host == "0.0.0.0" || m.host.is_empty() {
        "localhost"
    } else {
        m.host.as_str()
    };
    let url =
        url.unwrap_or_else(|| format!("http://{host}:{}{}", m.port, config.telemetry.metrics.path));
    let resp = reqwest::get(&url).await.map_err(|e| {
        anyhow::anyhow!("cannot reach metrics at {url}: {e} (is controller.metrics.enabled set?)")
    })?;
    anyhow::ensure!(
        resp.status().is_success(),
        "metrics at {url} answered {}",
        resp.status()
    );
    print!("{}", resp.text().await?);
    Ok(ExitCode::SUCCESS)
}

/// Liveness and readiness: the status and why not ready.
impl Show for HealthResponse {
    fn show(&self) -> String {
        let mut out = format!("\n  Status: {}", self.status);
        if let Some(e) = &self.error {
            out.push_str(&format!("\n  Error: {e}"));
        }
        out
    }
}

/// `GET /health/status`, all of it.
impl Show for StatusResponse {
    fn show(&self) -> String {
        status_view(self, None)
    }
}

/// `GET /health/status`, all of it or the registry entries of one component type: the
/// component table with each entry's sub-components beneath it, then the NATS blocks.
fn status_view(body: &StatusResponse, only: Option<&str>) -> String {
    let mut out = String::new();
    if only.is_none() {
        out.push_str(&header(body));
    }
    let rows: Vec<Vec<String>> = body
        .registry
        .iter()
        .flatten()
        .filter(|e| only.is_none_or(|k| e.kind == k))
        .flat_map(|e| entry_rows(e, &body.components))
        .collect();
    if rows.is_empty() {
        out.push_str("\n  No components found.");
    } else {
        let headers = [
            "type",
            "hostname",
            "status",
            "conditions",
            "age",
            "cpu",
            "mem",
        ];
        out.push('\n');
        out.push_str(&table(&headers, rows));
        out.push('\n');
    }
    if only.is_none() {
        out.push_str(&nats_blocks(body));
    }
    out
}

/// Status, version, uptime and every failing component.
fn header(body: &StatusResponse) -> String {
    let mut out = format!(
        "\n  Status: {}\n  Version: {}\n  Uptime: {}\n",
        body.status, body.version, body.uptime
    );
    for (k, c) in body.components.iter().filter(|(_, c)| c.status == "error") {
        out.push_str(&format!("  Error: {k}: {}\n", or_dash(c.error.as_ref())));
    }
    out
}

/// An entry's row, then one row per component named `<type>.` (this entry's own
/// sub-components first).
fn entry_rows(
    e: &RegistryEntry,
    components: &BTreeMap<String, ComponentHealth>,
) -> Vec<Vec<String>> {
    let status = if !e.state.is_empty() && e.state != "Ready" {
        e.state.clone()
    } else {
        e.status.clone()
    };
    let mut rows = vec![vec![
        e.kind.clone(),
        e.hostname.clone(),
        status,
        list(&e.conditions).replace("None", "-"),
        dash(&e.age),
        or_dash(e.cpu_percent.map(|c| format!("{c:.1}%"))),
        or_dash(e.mem_bytes.map(bytes)),
    ]];
    let prefix = format!("{}.", e.kind);
    let mut subs: BTreeMap<&String, &ComponentHealth> = components
        .iter()
        .filter(|(k, _)| k.starts_with(&prefix))
        .collect();
    subs.extend(e.sub_components.iter());
    let n = subs.len();
    for (i, (name, c)) in subs.into_iter().enumerate() {
        let branch = if i + 1 == n { "└─" } else { "├─" };
        let short = name.strip_prefix(&prefix).unwrap_or(name);
        let status = match &c.address {
            Some(a) => format!("{} {a}", c.status),
            None => c.status.clone(),
        };
        let mut row = vec![String::new(), format!("{branch} {short}"), status];
        row.extend(vec![String::new(); 4]);
        rows.push(row);
    }
    rows
}

/// Agents, jobs, streams, buckets, object stores and consumers.
fn nats_blocks(body: &StatusResponse) -> String {
    let mut out = String::new();
    if let Some(a) = &body.agents {
        out.push_str(&format!(
            "\n  Agents: {} total, {} ready, {} draining, {} drained\n",
            a.total, a.ready, a.draining, a.drained
        ));
    }
    if let Some(j) = &body.jobs {
        out.push_str(&format!(
            "  Jobs: {} total, {} completed, {} unprocessed, {} processing, {} failed, {} dlq\n",
            j.total, j.completed, j.unprocessed, j.processing, j.failed, j.dlq
        ));
    }
    for s in body.streams.iter().flatten() {
        out.push_str(&format!(
            "  Stream: {} ({} msgs, {}, {} consumers)\n",
            s.name,
            s.messages,
            bytes(s.bytes),
            s.consumers
        ));
    }
    for b in body.kv_buckets.iter().flatten() {
        out.push_str(&format!(
            "  Bucket: {} ({} keys, {})\n",
            b.name,
            b.keys,
            bytes(b.bytes)
        ));
    }
    for o in body.object_stores.iter().flatten() {
        out.push_str(&format!("  Object Store: {} ({})\n", o.name, bytes(o.size)));
    }
    if let Some(c) = &body.consumers {
        out.push_str(&consumers(c));
    }
    out
}

fn consumers(c: &ConsumerCounts) -> String {
    let mut out = format!("  Consumers: {} total\n", c.total);
    let rows = rows_of(&c.consumers, |c| {
        vec![
            c.name.clone(),
            c.pending.to_string(),
            c.ack_pending.to_string(),
            c.redelivered.to_string(),
        ]
    });
    if !rows.is_empty() {
        out.push('\n');
        out.push_str(&table(
            &["name", "pending", "ack pending", "redelivered"],
            rows,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn health_status_lists_components_with_their_sub_components() {
        let body: StatusResponse = serde_json::from_value(json!({
            "status": "ok", "version": "0.1.0", "uptime": "2h30m0s",
            "components": {
                "controller.nats (connectivity)": {"status": "ok"},
                "controller.api": {"status": "ok", "address": "http://0.0.0.0:8080"},
                "agent.heartbeat": {"status": "ok"}
            },
            "jobs": {"total": 3, "unprocessed": 1, "processing": 0, "completed": 2, "failed": 0, "dlq": 0},
            "registry": [
                {"type": "agent", "hostname": "web-01", "status": "Ready", "state": "Drained",
                 "conditions": ["HighLoad"], "age": "3d 4h", "cpu_percent": 1.3, "mem_bytes": 2048},
                {"type": "controller", "hostname": "ctl", "status": "Ready", "age": "45m"}
            ]
        }))
        .expect("a status");
        let all = status_view(&body, None);
        for want in [
            "Uptime: 2h30m0s",
            "nats (connectivity)",
            "└─ heartbeat",
            "Drained",
            "1.3%",
            "2.0 KB",
            "1 unprocessed",
        ] {
            assert!(all.contains(want), "{want}:\n{all}");
        }
        let agents = status_view(&body, Some("agent"));
        assert!(
            agents.contains("web-01") && !agents.contains("ctl"),
            "{agents}"
        );
        assert!(status_view(&body, Some("nats")).contains("No components found."));
    }
}
