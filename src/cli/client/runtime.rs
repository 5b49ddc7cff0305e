//! `osapi client node process|log|network interface|network route ...`: the runtime and
//! network-configuration domains, each sent through the typed SDK and shown with the
//! payload's [`Cells`].

use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::node::{show, show_confirmed};
use crate::cli::render::{bytes, Cells};
use crate::sdk::Client;
use crate::wire::ops::log::{
    LogEntries, LogQuery, LogSources, LogUnitQuery, NodeLogQuery, NodeLogSources, NodeLogUnit,
    DEFAULT_LINES,
};
use crate::wire::ops::process::{
    NodeProcessGet, NodeProcessList, NodeProcessSignal, ProcessGet, ProcessInfo, ProcessList,
    ProcessPid, SignalPayload, SignalRequest,
};
use crate::wire::ops::NoInput;

#[derive(Debug, Subcommand)]
pub enum ProcessCommand {
    /// Every process of the host.
    List,
    /// One process.
    Get {
        #[arg(long)]
        pid: i64,
    },
    /// Send a signal (TERM, KILL, HUP, INT, USR1, USR2) to a process.
    Signal {
        #[arg(long)]
        pid: i64,
        #[arg(long)]
        signal: String,
        /// Do not ask for confirmation with -T _all.
        #[arg(short = 'y', long)]
        yes: bool,
    },
}

/// `client node process ...`.
pub async fn process(
    client: &Client,
    target: &str,
    command: ProcessCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match command {
        ProcessCommand::List => show::<NodeProcessList>(client, target, &NoInput {}, json).await,
        ProcessCommand::Get { pid } => {
            show::<NodeProcessGet>(client, target, &ProcessPid { pid }, json).await
        }
        ProcessCommand::Signal { pid, signal, yes } => {
            let ask = (yes, "signal a process");
            let request = SignalRequest { pid, signal };
            show_confirmed::<NodeProcessSignal>(client, target, ask, &request, json).await
        }
    }
}

const PROCESS_COLUMNS: &[&str] = &[
    "pid", "user", "state", "cpu%", "mem%", "rss", "started", "command",
];

fn process_row(p: &ProcessInfo) -> Vec<String> {
    let command = if p.command.is_empty() {
        format!("[{}]", p.name)
    } else {
        p.command.clone()
    };
    vec![
        p.pid.to_string(),
        p.user.clone(),
        p.state.clone(),
        format!("{:.1}", p.cpu_percent),
        format!("{:.1}", p.mem_percent),
        bytes(p.mem_rss),
        p.start_time.clone(),
        command,
    ]
}

impl Cells for ProcessList {
    const COLUMNS: &'static [&'static str] = PROCESS_COLUMNS;
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        self.processes.iter().map(process_row).collect()
    }
}

impl Cells for ProcessGet {
    const COLUMNS: &'static [&'static str] = PROCESS_COLUMNS;
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        vec![process_row(&self.process)]
    }
}

impl Cells for SignalPayload {
    const COLUMNS: &'static [&'static str] = &["pid", "signal", "changed"];
    fn rows(&self, changed: bool) -> Vec<Vec<String>> {
        vec![vec![
            self.pid.to_string(),
            self.signal.clone(),
            changed.to_string(),
        ]]
    }
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// The newest journal entries.
    Query(LogArgs),
    /// Every source (SYSLOG_IDENTIFIER) in the journal.
    Source,
    /// The newest journal entries of one unit.
    Unit {
        /// The unit: ssh.service, cron.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        query: LogArgs,
    },
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Entries (1-10000).
    #[arg(long, default_value_t = DEFAULT_LINES)]
    lines: u32,
    /// journalctl time: "1 hour ago", "2024-01-01 10:00", today.
    #[arg(long)]
    since: Option<String>,
    /// emerg, alert, crit, err, warning, notice, info or debug (and more severe).
    #[arg(long)]
    priority: Option<String>,
}

impl From<LogArgs> for LogQuery {
    fn from(a: LogArgs) -> Self {
        Self {
            lines: Some(a.lines),
            since: a.since,
            priority: a.priority,
        }
    }
}

/// `client node log ...`.
pub async fn log(
    client: &Client,
    target: &str,
    command: LogCommand,
    json: bool,
) -> anyhow::Result<ExitCode> {
    match command {
        LogCommand::Query(a) => show::<NodeLogQuery>(client, target, &a.into(), json).await,
        LogCommand::Source => show::<NodeLogSources>(client, target, &NoInput {}, json).await,
        LogCommand::Unit { name, query } => {
            let request = LogUnitQuery {
                name,
                query: query.into(),
            };
            show::<NodeLogUnit>(client, target, &request, json).await
        }
    }
}

impl Cells for LogEntries {
    const COLUMNS: &'static [&'static str] = &["timestamp", "unit", "priority", "pid", "message"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        self.entries
            .iter()
            .map(|e| {
                vec![
                    e.timestamp.clone(),
                    e.unit.clone(),
                    e.priority.clone(),
                    e.pid.to_string(),
                    e.message.clone(),
                ]
            })
            .collect()
    }
}

impl Cells for LogSources {
    const COLUMNS: &'static [&'static str] = &["source"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        self.sources.iter().map(|s| vec![s.clone()]).collect()
    }
}
