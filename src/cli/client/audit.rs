//! `osapi client audit ...`: the audit log: list, one entry, export to a file.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;

use super::{api_error, print};
use crate::cli::render::{list, rows_of, table, Show};
use crate::sdk::endpoint;
use crate::sdk::{AuditEntry, AuditEntryResponse, Client, ListAuditResponse};

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

/// Runs an `audit` subcommand.
pub async fn run(client: &Client, command: AuditCommand, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::List { limit, offset } => {
            print(client, endpoint::audit_list(limit, offset), json).await
        }
        AuditCommand::Get { audit_id } => {
            uuid::Uuid::parse_str(&audit_id)
                .map_err(|_| anyhow::anyhow!("--audit-id {audit_id:?} is not a UUID"))?;
            print(client, endpoint::audit_get(&audit_id), json).await
        }
        AuditCommand::Export { output, kind } => export(client, &output, &kind).await,
    }
}

/// Writes every entry as a JSON line to `output` (`-j` changes nothing here).
async fn export(client: &Client, output: &Path, kind: &str) -> anyhow::Result<ExitCode> {
    anyhow::ensure!(
        kind == "file",
        "unsupported export --type {kind:?}: the only type is \"file\""
    );
    let all = client
        .fetch(&endpoint::audit_export())
        .await
        .map_err(api_error)?;
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
    Ok(ExitCode::SUCCESS)
}

/// `GET /audit` as a table.
impl Show for ListAuditResponse {
    fn show(&self) -> String {
        let rows = rows_of(&self.items, |e| {
            vec![
                e.id.clone(),
                e.timestamp.clone(),
                e.user.clone(),
                e.method.clone(),
                e.path.clone(),
                e.response_code.to_string(),
                format!("{}ms", e.duration_ms),
            ]
        });
        let headers = [
            "id",
            "timestamp",
            "user",
            "method",
            "path",
            "status",
            "duration",
        ];
        format!(
            "\n  Total: {}\n\n{}",
            self.total_items,
            table(&headers, rows)
        )
    }
}

/// `GET /audit/{id}`: its entry.
impl Show for AuditEntryResponse {
    fn show(&self) -> String {
        self.entry.show()
    }
}

/// One entry.
impl Show for AuditEntry {
    fn show(&self) -> String {
        let mut out = format!(
            "\n  ID: {}\n  Timestamp: {}\n  User: {}\n  Roles: {}\n  Request: {} {}\n  Status: {}  Duration: {}ms\n  Source IP: {}\n",
            self.id,
            self.timestamp,
            self.user,
            list(&self.roles),
            self.method,
            self.path,
            self.response_code,
            self.duration_ms,
            self.source_ip,
        );
        if let Some(op) = &self.operation_id {
            out.push_str(&format!("  Operation: {op}\n"));
        }
        if let Some(t) = &self.trace_id {
            out.push_str(&format!("  Trace ID: {t}\n"));
        }
        out
    }
}
