//! Live output of a run. The engine reports progress to an [`Observer`]; the
//! [`TextRenderer`] prints the plan, each step's start and result with its duration and
//! per-host lines, and a summary. Colour only on a terminal.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use super::result::{HostResult, HostStatus, Report, TaskResult, TaskStatus};

/// The levels of a validated plan, as shown before it runs.
#[derive(Debug, Clone)]
pub struct PlanSummary {
    pub total: usize,
    /// Step names per level.
    pub steps: Vec<Vec<String>>,
}

/// Receives progress events. Called concurrently from the steps of a level. Every
/// method defaults to doing nothing.
pub trait Observer: Send + Sync {
    /// Once, after validation.
    fn plan_start(&self, _plan: &PlanSummary) {}
    /// Before each level (0-based).
    fn level_start(&self, _level: usize, _steps: &[String], _parallel: bool) {}
    /// A step passed its guards and starts.
    fn task_start(&self, _name: &str) {}
    /// One host answered a running step (steps that follow their job's events).
    fn host_answered(&self, _step: &str, _host: &HostResult) {}
    /// Attempt `attempt` (1-based) failed and another follows.
    fn task_retry(&self, _name: &str, _attempt: u32, _error: &str) {}
    /// A step will not run.
    fn task_skip(&self, _name: &str, _reason: &str) {}
    /// Every step, run or skipped.
    fn task_done(&self, _result: &TaskResult) {}
    /// After each level, including one that stops the plan.
    fn level_done(&self, _level: usize, _results: &[TaskResult]) {}
    /// Once, at the end of a run that got past validation.
    fn plan_done(&self, _report: &Report) {}
}

/// Prints nothing.
pub struct Silent;

impl Observer for Silent {}

/// Human-readable progress on a writer (stdout by default).
pub struct TextRenderer {
    out: Mutex<Box<dyn Write + Send>>,
    verbose: bool,
    color: bool,
}

const RED: &str = "31";
const GREEN: &str = "32";
const YELLOW: &str = "33";
const CYAN: &str = "36";
const DIM: &str = "2";

impl TextRenderer {
    /// Prints to stdout, in colour when it is a terminal.
    pub fn stdout(verbose: bool) -> Self {
        let color = std::io::stdout().is_terminal();
        Self::new(Box::new(std::io::stdout()), verbose, color)
    }

    /// Prints to any writer.
    pub fn new(out: Box<dyn Write + Send>, verbose: bool, color: bool) -> Self {
        Self {
            out: Mutex::new(out),
            verbose,
            color,
        }
    }

    /// A renderer writing into a shared buffer (for tests and embedding).
    pub fn buffer(verbose: bool) -> (Self, Arc<Mutex<Vec<u8>>>) {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer = SharedBuffer(buf.clone());
        (Self::new(Box::new(writer), verbose, false), buf)
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// Writes a block of lines at once, so parallel steps do not interleave.
    fn emit(&self, lines: &[String]) {
        let mut out = match self.out.lock() {
            Ok(o) => o,
            Err(poisoned) => poisoned.into_inner(),
        };
        for l in lines {
            // Output is best effort: a closed pipe must not fail the plan.
            let _ = writeln!(out, "{l}");
        }
        let _ = out.flush();
    }

    fn tag(&self, status: &str, code: &str) -> String {
        let padded = format!("{:<11}", format!("[{status}]"));
        self.paint(code, &padded)
    }

    fn host_line(&self, h: &HostResult) -> Vec<String> {
        let (text, code) = match (h.status, &h.error) {
            (HostStatus::Ok, None) => ("ok".to_owned(), GREEN),
            (HostStatus::Skipped, None) => ("skipped".to_owned(), YELLOW),
            (HostStatus::Skipped, Some(e)) => (format!("skipped: {e}"), YELLOW),
            (HostStatus::Failed, None) => ("failed".to_owned(), RED),
            (_, Some(e)) => (format!("failed: {e}"), RED),
        };
        let changed = if h.changed { " changed" } else { "" };
        let mut lines = vec![format!(
            "{:13}[{}] {}{changed}",
            "",
            h.hostname,
            self.paint(code, &text)
        )];
        if self.verbose {
            lines.extend(data_lines(&h.data, 15));
        }
        lines
    }
}

impl Observer for TextRenderer {
    fn plan_start(&self, plan: &PlanSummary) {
        let mut lines = vec![
            String::new(),
            "Execution Plan".to_owned(),
            format!("Plan: {} tasks, {} steps", plan.total, plan.steps.len()),
        ];
        for (i, step) in plan.steps.iter().enumerate() {
            lines.push(format!(
                "  Step {} ({}): {}",
                i + 1,
                mode(step.len()),
                step.join(", ")
            ));
        }
        self.emit(&lines);
    }

    fn level_start(&self, level: usize, steps: &[String], parallel: bool) {
        let code = if parallel { CYAN } else { DIM };
        let text = format!(
            ">>> Step {} ({}): {}",
            level + 1,
            mode(steps.len()),
            steps.join(", ")
        );
        self.emit(&[String::new(), self.paint(code, &text)]);
    }

    fn task_start(&self, name: &str) {
        self.emit(&[format!("  {} {name}", self.tag("start", DIM))]);
    }

    /// Verbose only: each host as it answers; every run shows them with the step's result.
    fn host_answered(&self, step: &str, host: &HostResult) {
        if self.verbose {
            let status = match host.status {
                HostStatus::Ok => "ok",
                HostStatus::Skipped => "skipped",
                HostStatus::Failed => "failed",
            };
            let line = format!(
                "  {} {step:<25} {} {status}",
                self.tag("answer", DIM),
                host.hostname
            );
            self.emit(&[line]);
        }
    }

    fn task_retry(&self, name: &str, attempt: u32, error: &str) {
        self.emit(&[format!(
            "  {} {name:<25} attempt={attempt} error={error:?}",
            self.tag("retry", YELLOW)
        )]);
    }

    fn task_skip(&self, name: &str, reason: &str) {
        self.emit(&[format!(
            "  {} {name:<25} reason={reason:?}",
            self.tag("skip", YELLOW)
        )]);
    }

    fn task_done(&self, r: &TaskResult) {
        if r.status == TaskStatus::Skipped {
            return;
        }
        let code = match r.status {
            TaskStatus::Changed => YELLOW,
            TaskStatus::Failed => RED,
            _ => GREEN,
        };
        let mut lines = vec![format!(
            "  {} {:<25} changed={}  {}",
            self.tag(r.status.as_str(), code),
            r.name,
            r.changed,
            short_duration(r.duration)
        )];
        if let Some(e) = &r.error {
            lines.push(format!("{:14}{}", "", self.paint(RED, e)));
        }
        for h in &r.hosts {
            lines.extend(self.host_line(h));
        }
        if self.verbose {
            if let Some(id) = &r.job_id {
                lines.push(format!("{:13}job_id: {id}", ""));
            }
            if r.hosts.is_empty() {
                lines.extend(data_lines(&r.data, 13));
            }
        }
        self.emit(&lines);
    }

    fn level_done(&self, level: usize, results: &[TaskResult]) {
        let changed = results.iter().filter(|r| r.changed).count();
        self.emit(&[format!(
            "<<< Step {} done: {changed}/{} changed",
            level + 1,
            results.len()
        )]);
    }

    fn plan_done(&self, report: &Report) {
        self.emit(&[
            String::new(),
            format!(
                "Complete: {} in {}",
                report.summary(),
                short_duration(report.duration)
            ),
        ]);
    }
}

fn mode(n: usize) -> &'static str {
    if n > 1 {
        "parallel"
    } else {
        "sequential"
    }
}

/// Sub-second durations in milliseconds with one decimal (a fast step is `0.4ms`, not
/// `0ns`), longer ones in seconds.
fn short_duration(d: std::time::Duration) -> String {
    if d < std::time::Duration::from_secs(1) {
        format!("{:.1}ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2}s", d.as_secs_f64())
    }
}

/// `key: value` lines of an object, sorted, for verbose output. Keys the host line
/// already shows are left out; empty strings are not printed.
fn data_lines(data: &Value, indent: usize) -> Vec<String> {
    let Value::Object(map) = data else {
        return match data {
            Value::Null => Vec::new(),
            other => vec![format!("{:indent$}{}", "", format_value(other))],
        };
    };
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    keys.into_iter()
        .filter(|k| !matches!(k.as_str(), "hostname" | "changed" | "error"))
        .filter_map(|k| {
            let v = format_value(&map[k]);
            (!v.is_empty()).then(|| format!("{:indent$}{k}: {v}", ""))
        })
        .collect()
}

fn format_value(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() != 0.0 => format!("{f:.2}"),
            Some(f) if n.is_f64() => format!("{f:.0}"),
            _ => n.to_string(),
        },
        Value::Bool(b) => b.to_string(),
        Value::Array(a) => format!("[{} items]", a.len()),
        Value::Object(o) => o
            .iter()
            .map(|(k, v)| format!("{k}={}", format_value(v)))
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// A writer appending to a shared buffer.
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuffer {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        match self.0.lock() {
            Ok(mut b) => b.extend_from_slice(data),
            Err(p) => p.into_inner().extend_from_slice(data),
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_format_like_the_original() {
        assert_eq!(format_value(&json!(3.0)), "3");
        assert_eq!(format_value(&json!(2.5)), "2.50");
        assert_eq!(format_value(&json!(" hi \n")), "hi");
        assert_eq!(format_value(&json!([1, 2])), "[2 items]");
        assert_eq!(format_value(&json!({"a": 1, "b": "x"})), "a=1 b=x");
    }

    #[test]
    fn durations_stay_readable_below_a_millisecond() {
        use std::time::Duration;
        assert_eq!(short_duration(Duration::from_micros(420)), "0.4ms");
        assert_eq!(short_duration(Duration::from_micros(12_340)), "12.3ms");
        assert_eq!(short_duration(Duration::from_millis(2_500)), "2.50s");
    }

    #[test]
    fn verbose_data_is_sorted_and_shows_stderr() {
        let lines = data_lines(
            &json!({"stdout": "out", "stderr": "err", "exit_code": 0, "hostname": "h", "cwd": ""}),
            2,
        );
        assert_eq!(
            lines,
            vec!["  exit_code: 0", "  stderr: err", "  stdout: out"]
        );
    }
}
