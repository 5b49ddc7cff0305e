//! Human output from typed answers: per-host answers of catalogue operations as tables
//! ([`Render`], [`Cells`]), whole answers of the other endpoints ([`Show`], implemented
//! next to each resource's commands), and the shared cell helpers. A renamed wire field
//! is a compile error here, not a `-` in the output.

use std::collections::BTreeMap;

use comfy_table::presets::NOTHING;
use comfy_table::{ContentArrangement, Table};
use serde_json::Value;

use crate::wire::ops::command::CommandPayload;
use crate::wire::ops::file::{DeployPayload, FileStatusItem, StatusPayload as FileStatusPayload};
use crate::wire::ops::host::{PowerPayload, TimezoneUpdatePayload};
use crate::wire::ops::network::{DnsPayload, PingPayload};
use crate::wire::ops::node::{
    DiskPayload, HostnameResponse, LoadPayload, MemoryPayload, OsPayload, StatusPayload,
    TimezonePayload, UptimePayload,
};
use crate::wire::ops::ntp::NtpStatus;
use crate::wire::ops::sysctl::SysctlItem;
use crate::wire::ops::Changed;
use crate::wire::{Collection, HostItem, HostResult, HostStatus};

/// A per-host item as table rows under its own columns (printed after HOSTNAME and, when
/// any host failed, STATUS and ERROR).
pub trait Render: HostItem {
    /// Column headers.
    fn columns() -> &'static [&'static str];
    /// One row of cells per line this host shows (one for most items); empty for a host
    /// that failed.
    fn rows(&self) -> Vec<Vec<String>>;
}

/// The columns of a payload carried in a [`HostResult`]; `changed` is the item's flag.
pub trait Cells {
    const COLUMNS: &'static [&'static str];
    fn rows(&self, changed: bool) -> Vec<Vec<String>>;
}

impl<P: Cells + crate::wire::Payload + serde::Serialize + serde::de::DeserializeOwned> Render
    for HostResult<P>
{
    fn columns() -> &'static [&'static str] {
        P::COLUMNS
    }

    fn rows(&self) -> Vec<Vec<String>> {
        let changed = self.changed.unwrap_or(false);
        self.data
            .as_ref()
            .map_or_else(Vec::new, |p| p.rows(changed))
    }
}

/// HOSTNAME, then STATUS and ERROR when any host failed or skipped, then the item's
/// columns. Returns the table and whether any host failed (a skip is not a failure).
pub fn results_table<T: Render>(answer: &Collection<T>) -> (String, bool) {
    let any_error = answer.results.iter().any(|r| r.error().is_some());
    let mut headers = vec!["hostname"];
    if any_error {
        headers.extend(["status", "error"]);
    }
    headers.extend(T::columns());
    let mut rows = Vec::new();
    let mut failed = false;
    for item in &answer.results {
        let error = item.error();
        // A payload's own failure (a non-zero exit) shows as failed too.
        let status = match item.status() {
            HostStatus::Ok if error.is_some() => HostStatus::Failed,
            other => other,
        };
        failed |= status == HostStatus::Failed;
        let prefix = |error: Option<String>| {
            let mut row = vec![item.hostname().to_owned()];
            if any_error {
                row.extend([status.to_string(), error.unwrap_or_default()]);
            }
            row
        };
        let own = if error.is_some() {
            Vec::new()
        } else {
            item.rows()
        };
        if own.is_empty() {
            let mut row = prefix(error);
            row.extend(T::columns().iter().map(|_| String::new()));
            rows.push(row);
        }
        for cells in own {
            let mut row = prefix(None);
            row.extend(cells);
            rows.push(row);
        }
    }
    (table(&headers, rows), failed)
}

/// A whole API answer (a listing, a detail, a status) as the CLI prints it.
pub trait Show {
    /// The text printed for it (`println!` adds the final newline).
    fn show(&self) -> String;
}

/// Widest a cell may be before it is cut with `…`.
const MAX_CELL: usize = 60;

/// A borderless table with upper-case headers.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(headers.iter().map(|h| h.to_uppercase()));
    for row in rows {
        t.add_row(row.into_iter().map(|c| cell(&c)));
    }
    t.to_string()
}

/// One table row per item.
pub fn rows_of<T>(items: &[T], row: impl Fn(&T) -> Vec<String>) -> Vec<Vec<String>> {
    items.iter().map(row).collect()
}

/// One line, cut to [`MAX_CELL`] characters.
fn cell(s: &str) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > MAX_CELL {
        let cut: String = flat.chars().take(MAX_CELL - 1).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

/// 1024-based size.
pub fn bytes(n: u64) -> String {
    const UNITS: [(&str, f64); 3] = [("GB", 1073741824.0), ("MB", 1048576.0), ("KB", 1024.0)];
    for (unit, size) in UNITS {
        if n as f64 >= size {
            return format!("{:.1} {unit}", n as f64 / size);
        }
    }
    format!("{n} B")
}

/// `k:v, k:v` sorted by key, or `-`.
pub fn labels(labels: Option<&BTreeMap<String, String>>) -> String {
    match labels {
        Some(m) if !m.is_empty() => m
            .iter()
            .map(|(k, v)| format!("{k}:{v}"))
            .collect::<Vec<_>>()
            .join(", "),
        _ => "-".into(),
    }
}

/// `a, b`, or `None`.
pub fn list(items: &[String]) -> String {
    if items.is_empty() {
        "None".into()
    } else {
        items.join(", ")
    }
}

/// The value, or `-`.
pub fn or_dash<T: ToString>(v: Option<T>) -> String {
    v.map_or_else(|| "-".into(), |v| v.to_string())
}

/// The text, or `-` when empty (fields the API leaves out when empty).
pub fn dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_owned()
    }
}

/// Zero as `-` (fields the API leaves out when zero).
pub fn dash_zero<T: ToString + Default + PartialEq>(n: T) -> String {
    if n == T::default() {
        "-".into()
    } else {
        n.to_string()
    }
}

/// A float as JSON writes it (`0.0`, `1.5`).
pub fn num(v: f64) -> String {
    serde_json::Number::from_f64(v).map_or_else(|| "-".into(), |n| n.to_string())
}

/// A JSON value in one cell: a string as it is, `-` for none, else compact JSON.
pub fn json_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => "-".into(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// Pretty JSON of a value, with map keys ordered as a decoded API body has them.
pub fn pretty<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_default()
}

/// Every line indented by four spaces.
pub fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Time since an RFC 3339 timestamp, as `3d 4h` / `12h 30m` / `45m` / `30s`, or `-`.
pub fn age_since(rfc3339: &str) -> String {
    crate::wire::health::seconds_since(rfc3339)
        .map(crate::wire::health::format_age)
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "-".into())
}

impl Render for HostnameResponse {
    fn columns() -> &'static [&'static str] {
        &["labels"]
    }

    fn rows(&self) -> Vec<Vec<String>> {
        vec![vec![labels(self.labels.as_ref())]]
    }
}

impl Cells for Changed {
    const COLUMNS: &'static [&'static str] = &["changed"];
    fn rows(&self, changed: bool) -> Vec<Vec<String>> {
        vec![vec![changed.to_string()]]
    }
}

impl Render for SysctlItem {
    fn columns() -> &'static [&'static str] {
        &["key", "value"]
    }

    fn rows(&self) -> Vec<Vec<String>> {
        match (&self.key, &self.value) {
            (Some(k), Some(v)) => vec![vec![k.clone(), v.clone()]],
            _ => Vec::new(),
        }
    }
}

impl Cells for NtpStatus {
    const COLUMNS: &'static [&'static str] =
        &["synchronized", "stratum", "offset", "source", "servers"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        vec![vec![
            or_dash(self.synchronized),
            or_dash(self.stratum),
            or_dash(self.offset.as_ref()),
            or_dash(self.current_source.as_ref()),
            self.servers.join(", "),
        ]]
    }
}

impl Cells for TimezoneUpdatePayload {
    const COLUMNS: &'static [&'static str] = &["timezone", "changed"];
    fn rows(&self, changed: bool) -> Vec<Vec<String>> {
        vec![vec![self.timezone.clone(), changed.to_string()]]
    }
}

impl Cells for PowerPayload {
    const COLUMNS: &'static [&'static str] = &["action", "delay", "changed"];
    fn rows(&self, changed: bool) -> Vec<Vec<String>> {
        let delay = format!("{}s", self.delay);
        vec![vec![self.action.clone(), delay, changed.to_string()]]
    }
}

impl Cells for MemoryPayload {
    const COLUMNS: &'static [&'static str] = &["total", "used", "free", "available"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        let m = &self.memory;
        vec![[m.total, m.used, m.free, m.available].map(bytes).to_vec()]
    }
}

impl Cells for LoadPayload {
    const COLUMNS: &'static [&'static str] = &["1min", "5min", "15min"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        let l = &self.load_average;
        vec![[l.one, l.five, l.fifteen].map(|v| v.to_string()).to_vec()]
    }
}

impl Cells for OsPayload {
    const COLUMNS: &'static [&'static str] = &["distribution", "version"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        let os = &self.os_info;
        vec![vec![os.distribution.clone(), os.version.clone()]]
    }
}

impl Cells for UptimePayload {
    const COLUMNS: &'static [&'static str] = &["uptime"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        vec![vec![self.uptime.clone()]]
    }
}

impl Cells for TimezonePayload {
    const COLUMNS: &'static [&'static str] = &["timezone", "utc offset"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        vec![vec![self.timezone.clone(), self.utc_offset.clone()]]
    }
}

impl Cells for DiskPayload {
    const COLUMNS: &'static [&'static str] = &["disk", "total", "used", "free"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        self.disks
            .iter()
            .map(|d| vec![d.name.clone(), bytes(d.total), bytes(d.used), bytes(d.free)])
            .collect()
    }
}

impl Cells for StatusPayload {
    const COLUMNS: &'static [&'static str] = &["uptime", "load (1m)", "memory used", "disks", "os"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        let memory = self
            .memory
            .as_ref()
            .map(|m| format!("{} / {}", bytes(m.used), bytes(m.total)));
        let os = self
            .os_info
            .as_ref()
            .map(|o| format!("{} {}", o.distribution, o.version));
        vec![vec![
            or_dash(self.uptime.as_ref()),
            or_dash(self.load_average.as_ref().map(|l| l.one)),
            memory.unwrap_or_else(|| "- / -".into()),
            self.disks.len().to_string(),
            os.unwrap_or_else(|| "- -".into()),
        ]]
    }
}

impl Cells for DnsPayload {
    const COLUMNS: &'static [&'static str] = &["servers", "search domains"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        vec![vec![list(&self.servers), list(&self.search_domains)]]
    }
}

impl Cells for PingPayload {
    const COLUMNS: &'static [&'static str] =
        &["sent", "received", "loss", "min rtt", "avg rtt", "max rtt"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        vec![vec![
            self.packets_sent.to_string(),
            self.packets_received.to_string(),
            format!("{}%", self.packet_loss),
            self.min_rtt.clone(),
            self.avg_rtt.clone(),
            self.max_rtt.clone(),
        ]]
    }
}

impl Cells for DeployPayload {
    const COLUMNS: &'static [&'static str] = &["changed", "path", "sha256"];
    fn rows(&self, changed: bool) -> Vec<Vec<String>> {
        vec![vec![
            changed.to_string(),
            self.path.clone(),
            self.sha256.clone(),
        ]]
    }
}

impl Render for FileStatusItem {
    fn columns() -> &'static [&'static str] {
        FileStatusPayload::COLUMNS
    }

    fn rows(&self) -> Vec<Vec<String>> {
        self.file.as_ref().map_or_else(Vec::new, |f| f.rows(false))
    }
}

impl Cells for FileStatusPayload {
    const COLUMNS: &'static [&'static str] = &["path", "status", "sha256"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        vec![vec![
            self.path.clone(),
            self.status.clone(),
            or_dash(self.sha256.as_ref()),
        ]]
    }
}

impl Cells for CommandPayload {
    const COLUMNS: &'static [&'static str] = &["exit code", "duration", "stdout", "stderr"];
    fn rows(&self, _: bool) -> Vec<Vec<String>> {
        vec![vec![
            self.exit_code.to_string(),
            format!("{}ms", self.duration_ms),
            self.stdout.clone(),
            self.stderr.clone(),
        ]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uptime(host: &str, up: Option<&str>, error: Option<&str>) -> HostResult<UptimePayload> {
        HostResult {
            hostname: host.into(),
            status: None,
            data: up.map(|u| UptimePayload {
                uptime: u.into(),
                uptime_seconds: 5.0,
            }),
            changed: None,
            error: error.map(Into::into),
        }
    }

    #[test]
    fn error_columns_appear_only_when_a_host_failed() {
        let ok = Collection {
            job_id: "j".into(),
            results: vec![uptime("a", Some("5s"), None)],
        };
        let (t, failed) = results_table(&ok);
        assert!(!failed && !t.contains("ERROR") && t.contains("5s"));
        let bad = Collection {
            job_id: "j".into(),
            results: vec![
                uptime("a", Some("5s"), None),
                uptime("b", None, Some("boom")),
            ],
        };
        let (t, failed) = results_table(&bad);
        assert!(failed && t.contains("ERROR") && t.contains("boom"));
    }

    #[test]
    fn labels_sorted_or_dash() {
        let m = BTreeMap::from([("b".to_owned(), "2".to_owned()), ("a".into(), "1".into())]);
        assert_eq!(labels(Some(&m)), "a:1, b:2");
        assert_eq!(labels(None), "-");
    }

    #[test]
    fn sizes_are_1024_based() {
        assert_eq!(bytes(1536), "1.5 KB");
        assert_eq!(bytes(3 * 1073741824u64), "3.0 GB");
        assert_eq!(bytes(12), "12 B");
    }

    #[test]
    fn table_has_headers_and_rows() {
        let out = table(
            &["hostname", "labels"],
            vec![vec!["a".into(), "g:x".into()]],
        );
        assert!(out.contains("HOSTNAME"));
        assert!(out.contains("g:x"));
    }

    #[test]
    fn long_cells_are_cut() {
        assert!(cell(&"x".repeat(100)).ends_with('…'));
        assert_eq!(cell("a\nb"), "a b");
    }

    #[test]
    fn floats_print_as_json_does() {
        assert_eq!(num(0.0), "0.0");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(json_text(Some(&Value::String("x".into()))), "x");
        assert_eq!(json_text(None), "-");
    }

    #[test]
    fn one_row_per_disk() {
        let d = |name: &str| crate::wire::ops::node::Disk {
            name: name.into(),
            total: 2048,
            used: 1024,
            free: 1024,
            device: String::new(),
            fstype: String::new(),
        };
        let answer = Collection {
            job_id: "j".into(),
            results: vec![HostResult {
                hostname: "a".into(),
                status: None,
                data: Some(DiskPayload {
                    disks: vec![d("/"), d("/boot")],
                }),
                changed: None,
                error: None,
            }],
        };
        let (t, _) = results_table(&answer);
        assert!(t.contains("/boot") && t.contains("FREE"), "{t}");
        assert_eq!(t.lines().count(), 3, "{t}");
    }
}
