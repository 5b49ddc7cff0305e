//! The systemd journal through `journalctl` (run by the system's runner, so tests feed it
//! recorded output): entries as JSON, and the list of sources. A host without a journal,
//! or a container, answers `Unsupported` (the item is `skipped` with the reason).

use serde_json::Value;

use super::system::LinuxSystem;
use super::ProviderError;
use crate::wire::ops::log::PRIORITIES;
pub use crate::wire::ops::log::{LogEntry, LogQuery};

/// Reads the journal.
pub trait LogProvider: Send + Sync {
    /// The newest entries matching `query` (of `unit` when given), oldest first.
    fn query(&self, query: &LogQuery, unit: Option<&str>) -> Result<Vec<LogEntry>, ProviderError>;
    /// Every SYSLOG_IDENTIFIER in the journal, sorted, each once.
    fn sources(&self) -> Result<Vec<String>, ProviderError>;
}

/// The journal of the system under a root, read through its runner.
pub type LinuxLogs = LinuxSystem;

/// journalctl output kept per query: the answer travels in one NATS message (1 MiB by
/// default), and each entry it keeps is smaller than journalctl's JSON of it.
pub const MAX_JOURNAL_OUTPUT: usize = 512 * 1024;
/// The fields asked of journalctl (it adds its cursor and timestamps).
const FIELDS: &str = "MESSAGE,PRIORITY,SYSLOG_IDENTIFIER,_PID,_HOSTNAME";

/// Where journald keeps its files: persistent, then volatile.
const JOURNAL_DIRS: [&str; 2] = ["var/log/journal", "run/log/journal"];

impl LinuxLogs {
    /// Refuses, with the reason, where there is no journal to read.
    fn journal(&self) -> Result<(), ProviderError> {
        if self.root.in_container() {
            return Err(ProviderError::Unsupported(
                "the journal is not read inside a container".into(),
            ));
        }
        if !self.runner.has("journalctl") {
            return Err(ProviderError::Unsupported(
                "journalctl is not installed".into(),
            ));
        }
        if !JOURNAL_DIRS.iter().any(|d| self.has_journal_files(d)) {
            return Err(ProviderError::Unsupported(
                "no systemd journal on this host (no journal files in /var/log/journal or /run/log/journal)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// `*.journal` files in `dir` or its machine-id subdirectories.
    fn has_journal_files(&self, dir: &str) -> bool {
        let is_journal = |p: &std::path::Path| p.extension().is_some_and(|e| e == "journal");
        let Ok(entries) = std::fs::read_dir(self.root.join(dir)) else {
            return false;
        };
        entries.flatten().any(|e| {
            let path = e.path();
            is_journal(&path)
                || std::fs::read_dir(&path)
                    .map(|inner| inner.flatten().any(|f| is_journal(&f.path())))
                    .unwrap_or(false)
        })
    }
}

/// journalctl's arguments for `query` (and `unit`): each value in its own `--opt=value`
/// word, so nothing a caller sends can read as another option. Newest first, so that the
/// output cap drops the oldest entries, not the newest.
pub fn query_args(query: &LogQuery, unit: Option<&str>) -> Vec<String> {
    let mut argv = vec![
        "journalctl".to_owned(),
        "--output=json".to_owned(),
        format!("--output-fields={FIELDS}"),
        "--reverse".to_owned(),
        "--no-pager".to_owned(),
        format!("--lines={}", query.lines()),
    ];
    if let Some(since) = &query.since {
        argv.push(format!("--since={since}"));
    }
    if let Some(p) = &query.priority {
        argv.push(format!("--priority={p}"));
    }
    if let Some(u) = unit {
        argv.push(format!("--unit={u}"));
    }
    argv
}

/// The entries of `journalctl --output=json --reverse` output, oldest first; lines that
/// are not JSON objects (a line cut by the output cap) are dropped.
pub fn parse_entries(output: &str) -> Vec<LogEntry> {
    let mut entries: Vec<LogEntry> = output
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(Value::is_object)
        .map(|v| entry(&v))
        .collect();
    entries.reverse();
    entries
}

/// A journal field as text: journald sends a string, or an array of bytes for values that
/// are not valid UTF-8.
fn field(v: &Value, name: &str) -> String {
    match &v[name] {
        Value::String(s) => s.clone(),
        Value::Array(b) => {
            let bytes: Vec<u8> = b
                .iter()
                .filter_map(|x| x.as_u64().and_then(|n| u8::try_from(n).ok()))
                .collect();
            String::from_utf8_lossy(&bytes).into_owned()
        }
        _ => String::new(),
    }
}

fn entry(v: &Value) -> LogEntry {
    let micros: i128 = field(v, "__REALTIME_TIMESTAMP").parse().unwrap_or(0);
    let timestamp = time::OffsetDateTime::from_unix_timestamp_nanos(micros * 1000)
        .map(crate::wire::job::rfc3339)
        .unwrap_or_default();
    let priority = field(v, "PRIORITY")
        .parse::<usize>()
        .ok()
        .and_then(|n| PRIORITIES.get(n))
        .map_or_else(String::new, |p| (*p).to_owned());
    LogEntry {
        timestamp,
        unit: field(v, "SYSLOG_IDENTIFIER"),
        priority,
        message: field(v, "MESSAGE"),
        pid: field(v, "_PID").parse().unwrap_or(0),
        hostname: field(v, "_HOSTNAME"),
    }
}

/// A failed journalctl whose complaint is the `--since` value is the caller's mistake.
fn query_error(query: &LogQuery, e: ProviderError) -> ProviderError {
    match e {
        ProviderError::Failed(msg) if query.since.is_some() && msg.contains("timestamp") => {
            ProviderError::InvalidInput(format!("since: {msg}"))
        }
        other => other,
    }
}

impl LogProvider for LinuxLogs {
    fn query(&self, query: &LogQuery, unit: Option<&str>) -> Result<Vec<LogEntry>, ProviderError> {
        self.journal()?;
        let argv = query_args(query, unit);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = self
            .runner
            .run_capped(&argv, MAX_JOURNAL_OUTPUT)
            .and_then(|out| out.success(&argv))
            .map_err(|e| query_error(query, e))?;
        Ok(parse_entries(&out))
    }

    fn sources(&self) -> Result<Vec<String>, ProviderError> {
        self.journal()?;
        let out = self
            .runner
            .check(&["journalctl", "--field=SYSLOG_IDENTIFIER"])?;
        let mut sources: Vec<String> = out
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect();
        sources.sort();
        sources.dedup();
        Ok(sources)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::runner::{RecordingRunner, ToolOutput};

    /// Two entries as `journalctl --output=json --reverse` prints them, newest first (one
    /// with a binary message), then a line cut by the output cap.
    const RECORDED: &str = concat!(
        r#"{"__REALTIME_TIMESTAMP":"1700000001000000","PRIORITY":"3","SYSLOG_IDENTIFIER":"kernel","MESSAGE":[104,105,255],"_HOSTNAME":"web-01"}"#,
        "\n",
        r#"{"__REALTIME_TIMESTAMP":"1700000000123456","PRIORITY":"6","SYSLOG_IDENTIFIER":"sshd","MESSAGE":"Accepted publickey for root","_PID":"812","_HOSTNAME":"web-01","__CURSOR":"s=1"}"#,
        "\n",
        r#"{"__REALTIME_TIMESTAMP":"17000"#,
    );

    fn rooted(
        journal: bool,
    ) -> (
        tempfile::TempDir,
        LinuxLogs,
        std::sync::Arc<RecordingRunner>,
    ) {
        let root = tempfile::tempdir().unwrap();
        if journal {
            let dir = root.path().join("var/log/journal/0123abcd");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("system.journal"), "").unwrap();
        }
        let runner = RecordingRunner::new();
        let logs = LinuxLogs {
            root: root.path().into(),
            runner: runner.clone(),
        };
        (root, logs, runner)
    }

    #[test]
    fn parses_recorded_journal_output() {
        let entries = parse_entries(RECORDED);
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0],
            LogEntry {
                timestamp: "2023-11-14T22:13:20.123456Z".into(),
                unit: "sshd".into(),
                priority: "info".into(),
                message: "Accepted publickey for root".into(),
                pid: 812,
                hostname: "web-01".into(),
            }
        );
        assert_eq!(
            (entries[1].priority.as_str(), entries[1].message.as_str()),
            ("err", "hi\u{fffd}")
        );
    }

    #[test]
    fn queries_through_the_runner_with_one_word_per_value() {
        let (_root, logs, runner) = rooted(true);
        runner.answer(
            "journalctl",
            ToolOutput {
                stdout: RECORDED.into(),
                ..Default::default()
            },
        );
        let query = LogQuery {
            lines: Some(5),
            since: Some("1 hour ago".into()),
            priority: Some("err".into()),
        };
        assert_eq!(logs.query(&query, Some("ssh.service")).unwrap().len(), 2);
        assert_eq!(
            runner.calls()[0],
            [
                "journalctl",
                "--output=json",
                "--output-fields=MESSAGE,PRIORITY,SYSLOG_IDENTIFIER,_PID,_HOSTNAME",
                "--reverse",
                "--no-pager",
                "--lines=5",
                "--since=1 hour ago",
                "--priority=err",
                "--unit=ssh.service"
            ]
        );
        runner.answer(
            "journalctl",
            ToolOutput {
                stdout: "sshd\ncron\nsshd\n".into(),
                ..Default::default()
            },
        );
        assert_eq!(logs.sources().unwrap(), ["cron", "sshd"]);
    }

    #[test]
    fn this_hosts_journalctl_accepts_the_arguments() {
        use crate::provider::runner::{Runner, SystemRunner};
        if !SystemRunner.has("journalctl") {
            return;
        }
        let query = LogQuery {
            lines: Some(1),
            since: Some("1 hour ago".into()),
            priority: Some("err".into()),
        };
        let argv = query_args(&query, Some("osapi-test.service"));
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = SystemRunner.run(&argv).unwrap();
        assert_eq!(out.exit_code, 0, "{out:?}");
    }

    #[test]
    fn no_journal_is_a_reason_not_a_failure() {
        let (root, logs, runner) = rooted(false);
        let err = logs.sources().unwrap_err();
        assert!(
            matches!(err, ProviderError::Unsupported(ref m) if m.contains("no systemd journal")),
            "{err}"
        );
        std::fs::write(root.path().join(".dockerenv"), "").unwrap();
        assert!(
            matches!(logs.sources(), Err(ProviderError::Unsupported(m)) if m.contains("container"))
        );
        assert!(runner.calls().is_empty());
    }
}
