//! `osapi client ...`: the REST API from the command line.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

mod node;

pub use node::NodeCommand;

use super::output;
use crate::config::Config;
use crate::sdk::{self, Client, RawResponse};

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Base URL of the API (overrides controller.client.url).
    #[arg(long, global = true)]
    pub url: Option<String>,
    /// Bearer token (overrides controller.client.security.bearer_token).
    #[arg(long, global = true)]
    pub token: Option<String>,
    /// Target: _any, _all, a hostname, or a key:value label.
    #[arg(short = 'T', long, global = true, default_value = "_any")]
    pub target: String,
    #[command(subcommand)]
    pub command: ClientCommand,
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Node operations.
    Node {
        #[command(subcommand)]
        command: NodeCommand,
    },
    /// Jobs: list, inspect, delete, retry.
    Job {
        #[command(subcommand)]
        command: JobCommand,
    },
    /// Agents: list, inspect, drain, undrain.
    Agent {
        #[command(subcommand)]
        command: AgentCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Files in the object store.
    File {
        #[command(subcommand)]
        command: FileCommand,
    },
    /// Liveness, readiness and the full status.
    Health {
        #[command(subcommand)]
        command: HealthCommand,
    },
    /// The controller's part of the health status.
    Controller {
        #[command(subcommand)]
        command: StatusOnly,
    },
    /// The NATS part of the health status.
    Nats {
        #[command(subcommand)]
        command: StatusOnly,
    },
    /// Prometheus metrics of the controller.
    Metrics {
        #[command(subcommand)]
        command: MetricsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum FileCommand {
    /// Upload a local file (skipped when the stored one has the same SHA-256).
    Upload {
        #[arg(long)]
        name: String,
        #[arg(long)]
        file: std::path::PathBuf,
        /// raw or template.
        #[arg(long, default_value = "raw")]
        content_type: String,
        /// Replace a stored file with other content.
        #[arg(long)]
        force: bool,
    },
    /// Stored files.
    List,
    /// One file's metadata.
    Get {
        #[arg(long)]
        name: String,
    },
    /// Remove a stored file.
    Delete {
        #[arg(long)]
        name: String,
    },
    /// Deployed files whose object changed since.
    Stale,
}

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

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Entries, newest first.
    List {
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long, default_value_t = 0)]
        offset: usize,
    },
    /// One entry.
    Get {
        #[arg(long)]
        audit_id: String,
    },
    /// Every entry as JSON Lines into a file.
    Export {
        #[arg(long)]
        output: std::path::PathBuf,
        /// Export destination; `file` is the only one.
        #[arg(long = "type", default_value = "file")]
        kind: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Registered agents.
    List,
    /// One agent with its facts.
    Get {
        #[arg(long)]
        hostname: String,
    },
    /// Stop giving the agent new jobs.
    Drain {
        #[arg(long)]
        hostname: String,
    },
    /// Let a drained agent take jobs again.
    Undrain {
        #[arg(long)]
        hostname: String,
    },
    /// The agents' part of the health status.
    Status,
}

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

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

/// Runs a client command. An API error prints its message and exits non-zero.
pub async fn run(config: &Config, args: ClientArgs, json: bool) -> anyhow::Result<ExitCode> {
    let url = args
        .url
        .clone()
        .unwrap_or_else(|| config.controller.client.url.clone());
    let token = match &args.token {
        Some(t) => t.clone(),
        None => config.bearer_token()?.to_owned(),
    };
    let client = Client::new(&url, &token)?;
    let target = args.target.as_str();
    let command = match args.command {
        ClientCommand::Node { command } => command,
        ClientCommand::Job { command } => return job(&client, command, json).await,
        ClientCommand::Agent { command } => return agent(&client, command, json).await,
        ClientCommand::Audit { command } => return audit(&client, command, json).await,
        ClientCommand::Health { command } => return health(&client, command, json).await,
        ClientCommand::File { command } => return files(&client, command, json).await,
        ClientCommand::Controller { .. } => {
            return component_status(&client, "controller", json).await
        }
        ClientCommand::Nats { .. } => return component_status(&client, "nats", json).await,
        ClientCommand::Metrics {
            command: MetricsCommand::Get { metrics_url },
        } => return metrics(config, metrics_url).await,
    };
    node::run(&client, target, command, json).await
}

async fn job(client: &Client, command: JobCommand, json: bool) -> anyhow::Result<ExitCode> {
    let resp = match &command {
        JobCommand::List {
            status,
            limit,
            offset,
        } => {
            let mut path = format!("/job?limit={limit}&offset={offset}");
            if let Some(s) = status {
                path.push_str(&format!("&status={}", sdk::encode_segment(s)));
            }
            client.get_raw(&path).await?
        }
        JobCommand::Get { job_id } => {
            client
                .get_raw(&format!("/job/{}", sdk::encode_segment(job_id)))
                .await?
        }
        JobCommand::Delete { job_id } => {
            let path = format!("/job/{}", sdk::encode_segment(job_id));
            client.send(Method::DELETE, &path, None).await?
        }
        JobCommand::Retry {
            job_id,
            target_hostname,
        } => {
            let path = format!("/job/{}/retry", sdk::encode_segment(job_id));
            let body = json!({"target_hostname": target_hostname});
            client.send(Method::POST, &path, Some(&body)).await?
        }
    };
    if json {
        return Ok(print_raw(&resp));
    }
    let resp = check(resp)?;
    match command {
        JobCommand::List { .. } => println!("{}", output::job_list(&resp.json()?)),
        JobCommand::Get { .. } => println!("{}", output::job_detail(&resp.json()?)),
        JobCommand::Delete { job_id } => println!("\n  Job ID: {job_id}  Status: Deleted"),
        JobCommand::Retry { .. } => {
            let v: Value = resp.json()?;
            println!(
                "\n  Job ID: {}  Status: {}",
                v["job_id"].as_str().unwrap_or("-"),
                v["status"].as_str().unwrap_or("-"),
            );
            if let Some(rev) = v["revision"].as_u64().filter(|r| *r != 0) {
                println!("  Revision: {rev}");
            }
            if let Some(of) = v["retry_of"].as_str() {
                println!("  Retry of: {of}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn agent(client: &Client, command: AgentCommand, json: bool) -> anyhow::Result<ExitCode> {
    let enc = sdk::encode_segment;
    let resp = match &command {
        AgentCommand::Status => return component_status(client, "agent", json).await,
        AgentCommand::List => client.get_raw("/agent").await?,
        AgentCommand::Get { hostname } => {
            client.get_raw(&format!("/agent/{}", enc(hostname))).await?
        }
        AgentCommand::Drain { hostname } => {
            client
                .send(
                    Method::POST,
                    &format!("/agent/{}/drain", enc(hostname)),
                    None,
                )
                .await?
        }
        AgentCommand::Undrain { hostname } => {
            client
                .send(
                    Method::POST,
                    &format!("/agent/{}/undrain", enc(hostname)),
                    None,
                )
                .await?
        }
    };
    if json {
        return Ok(print_raw(&resp));
    }
    let body: Value = check(resp)?.json()?;
    match command {
        AgentCommand::List => println!("{}", output::agent_list(&body)),
        AgentCommand::Get { .. } => println!("{}", output::agent_detail(&body)),
        AgentCommand::Status => {}
        AgentCommand::Drain { .. } | AgentCommand::Undrain { .. } => println!(
            "\n  Hostname: {}  Status: {}\n  Message: {}",
            body["hostname"].as_str().unwrap_or("-"),
            body["status"].as_str().unwrap_or("-"),
            body["message"].as_str().unwrap_or("-")
        ),
    }
    Ok(ExitCode::SUCCESS)
}

async fn audit(client: &Client, command: AuditCommand, json: bool) -> anyhow::Result<ExitCode> {
    let resp = match &command {
        AuditCommand::List { limit, offset } => {
            client
                .get_raw(&format!("/audit?limit={limit}&offset={offset}"))
                .await?
        }
        AuditCommand::Get { audit_id } => {
            uuid::Uuid::parse_str(audit_id)
                .map_err(|_| anyhow::anyhow!("--audit-id {audit_id:?} is not a UUID"))?;
            client
                .get_raw(&format!("/audit/{}", sdk::encode_segment(audit_id)))
                .await?
        }
        AuditCommand::Export { kind, .. } => {
            anyhow::ensure!(
                kind == "file",
                "unsupported export --type {kind:?}: the only type is \"file\""
            );
            client.get_raw("/audit/export").await?
        }
    };
    if let AuditCommand::Export { output, .. } = &command {
        let resp = check(resp)?;
        let all: sdk::types::ListAuditResponse = resp.json()?;
        let mut lines = String::new();
        for entry in &all.items {
            lines.push_str(&crate::audit::export_line(entry));
            lines.push('\n');
        }
        std::fs::write(output, lines)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", output.display()))?;
        println!(
            "\n  Exported: {}  Total: {}\n  Output: {}",
            all.items.len(),
            all.total_items,
            output.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    if json {
        return Ok(print_raw(&resp));
    }
    let body: Value = check(resp)?.json()?;
    match command {
        AuditCommand::List { .. } => println!("{}", output::audit_list(&body)),
        AuditCommand::Get { .. } => println!("{}", output::audit_detail(&body["entry"])),
        AuditCommand::Export { .. } => {}
    }
    Ok(ExitCode::SUCCESS)
}

async fn files(client: &Client, command: FileCommand, json: bool) -> anyhow::Result<ExitCode> {
    let enc = sdk::encode_segment;
    let resp = match &command {
        FileCommand::Upload {
            name,
            file,
            content_type,
            force,
        } => {
            let sha = sdk::file_sha256(file)
                .await
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let existing = client.get_raw(&format!("/file/{}", enc(name))).await?;
            if existing.status.is_success() && !force {
                let v: Value = existing.json()?;
                if v["sha256"] == sha.as_str() && v["content_type"] == content_type.as_str() {
                    println!("\n  Name: {name}  SHA256: {sha}\n  Changed: false (already stored; nothing sent)");
                    return Ok(ExitCode::SUCCESS);
                }
            }
            client.upload_file(name, content_type, file, *force).await?
        }
        FileCommand::List => client.get_raw("/file").await?,
        FileCommand::Get { name } => client.get_raw(&format!("/file/{}", enc(name))).await?,
        FileCommand::Delete { name } => {
            client
                .send(Method::DELETE, &format!("/file/{}", enc(name)), None)
                .await?
        }
        FileCommand::Stale => client.get_raw("/file/stale").await?,
    };
    if json {
        return Ok(print_raw(&resp));
    }
    let body: Value = check(resp)?.json()?;
    match command {
        FileCommand::List => println!("{}", output::file_list(&body)),
        FileCommand::Stale => println!("{}", output::stale_list(&body)),
        _ => println!("{}", serde_json::to_string_pretty(&body)?),
    }
    Ok(ExitCode::SUCCESS)
}

async fn health(client: &Client, command: HealthCommand, json: bool) -> anyhow::Result<ExitCode> {
    let path = match command {
        HealthCommand::Liveness => "/health",
        HealthCommand::Ready => "/health/ready",
        HealthCommand::Status => "/health/status",
    };
    let resp = client.get_raw(path).await?;
    // 503 here is an answer about health, not a failed call.
    if json {
        println!("{}", resp.body.trim_end());
        return Ok(ExitCode::SUCCESS);
    }
    if resp.status.as_u16() != 503 {
        check(resp.clone())?;
    }
    let body: Value = resp.json()?;
    match command {
        HealthCommand::Status => println!("{}", output::health_status(&body, None)),
        _ => {
            println!("\n  Status: {}", body["status"].as_str().unwrap_or("-"));
            if let Some(e) = body["error"].as_str() {
                println!("  Error: {e}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn component_status(client: &Client, kind: &str, json: bool) -> anyhow::Result<ExitCode> {
    let resp = client.get_raw("/health/status").await?;
    if resp.status.as_u16() != 503 {
        check(resp.clone())?;
    }
    let body: Value = resp.json()?;
    if json {
        let entries: Vec<&Value> = body["registry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["type"] == kind)
            .collect();
        println!("{}", serde_json::to_string(&entries)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("{}", output::health_status(&body, Some(kind)));
    Ok(ExitCode::SUCCESS)
}

async fn metrics(config: &Config, url: Option<String>) -> anyhow::Result<ExitCode> {
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

/// Like [`sdk::check`], keeping the CLI's error text `API error <status>: <message>`.
fn check(resp: RawResponse) -> anyhow::Result<RawResponse> {
    sdk::check(resp).map_err(|e| match (e.status(), e.message()) {
        (Some(status), Some(message)) => anyhow::anyhow!("API error {status}: {message}"),
        _ => anyhow::Error::new(e),
    })
}

/// `--json`: the body as the API sent it; non-zero exit for a non-2xx answer.
fn print_raw(resp: &RawResponse) -> ExitCode {
    if !resp.body.is_empty() {
        println!("{}", resp.body.trim_end());
    }
    if resp.status.is_success() {
        ExitCode::SUCCESS
    } else {
        eprintln!("error: API answered {}", resp.status);
        ExitCode::FAILURE
    }
}

/// With `_all`, asks before changing every host; `--yes` skips the question.
fn confirm(target: &str, yes: bool, verb: &str) -> anyhow::Result<bool> {
    if target != "_all" || yes {
        return Ok(true);
    }
    eprint!("This will {verb} on ALL hosts. Continue? [y/N] ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    if matches!(line.trim(), "y" | "Y") {
        Ok(true)
    } else {
        eprintln!("Aborted (pass --yes to skip this question).");
        Ok(false)
    }
}
