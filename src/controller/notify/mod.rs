//! Condition notifications: the watcher turns registry changes into events, a notifier
//! delivers them (log lines, or a webhook for chat and paging tools).

pub mod fleet;
pub mod watcher;
pub mod webhook;

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

pub use webhook::{WebhookError, WebhookNotifier};

/// What happened to a condition of a component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EventKind {
    /// A condition became active (or is re-notified while it stays active).
    Fired,
    /// A condition is no longer active.
    Resolved,
    /// The component's heartbeat expired.
    Unreachable,
}

/// One notification.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConditionEvent {
    pub kind: EventKind,
    /// `agent`, `controller` or `nats`.
    pub component: String,
    pub hostname: String,
    /// `MemoryPressure`, ..., or `ComponentUnreachable`.
    pub condition: String,
    pub reason: String,
    /// True for a re-notification of a condition still active.
    pub renotify: bool,
    pub timestamp: String,
}

/// Delivers events. Failures are the notifier's to log: the watcher goes on.
pub trait Notifier: Send + Sync {
    fn notify<'a>(
        &'a self,
        event: &'a ConditionEvent,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>>;
}

/// WARN for fired and unreachable, INFO for resolved.
pub struct LogNotifier;

impl Notifier for LogNotifier {
    fn notify<'a>(
        &'a self,
        e: &'a ConditionEvent,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            match e.kind {
                EventKind::Fired => tracing::warn!(
                    component = %e.component, hostname = %e.hostname, condition = %e.condition,
                    reason = %e.reason, renotify = e.renotify, "condition fired"
                ),
                EventKind::Unreachable => tracing::warn!(
                    component = %e.component, hostname = %e.hostname, condition = %e.condition,
                    reason = %e.reason, "component unreachable"
                ),
                EventKind::Resolved => tracing::info!(
                    component = %e.component, hostname = %e.hostname, condition = %e.condition,
                    "condition resolved"
                ),
            }
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Log lines written while the returned guard lives (this thread only).
    #[derive(Clone, Default)]
    pub(crate) struct Logs(Arc<Mutex<Vec<u8>>>);

    impl Write for Logs {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Logs {
        pub(crate) fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
            let logs = Self::default();
            let writer = logs.clone();
            let subscriber = tracing_subscriber::fmt()
                .with_writer(move || writer.clone())
                .with_max_level(tracing::Level::TRACE)
                .with_ansi(false)
                .without_time()
                .finish();
            (logs, tracing::subscriber::set_default(subscriber))
        }

        /// The lines containing `message`.
        pub(crate) fn lines(&self, message: &str) -> Vec<String> {
            let text = String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf8");
            text.lines()
                .filter(|l| l.contains(message))
                .map(str::to_owned)
                .collect()
        }

        /// The one line containing `message`.
        pub(crate) fn line(&self, message: &str) -> String {
            let lines = self.lines(message);
            assert_eq!(lines.len(), 1, "{message:?}: {lines:?}");
            lines[0].clone()
        }
    }

    pub(crate) fn event(kind: EventKind, hostname: &str, condition: &str) -> ConditionEvent {
        ConditionEvent {
            kind,
            component: "agent".into(),
            hostname: hostname.into(),
            condition: condition.into(),
            reason: "/ 95% used".into(),
            renotify: false,
            timestamp: "2026-11-22T00:00:00Z".into(),
        }
    }

    #[tokio::test]
    async fn log_notifier_warns_fired_and_unreachable_and_informs_resolved() {
        let (logs, _guard) = Logs::capture();
        let cases = [
            (EventKind::Fired, "DiskPressure", "WARN", "condition fired"),
            (
                EventKind::Unreachable,
                watcher::UNREACHABLE,
                "WARN",
                "component unreachable",
            ),
            (
                EventKind::Resolved,
                "MemoryPressure",
                "INFO",
                "condition resolved",
            ),
        ];
        for (kind, condition, _, _) in cases {
            LogNotifier.notify(&event(kind, "web-01", condition)).await;
        }
        for (_, condition, level, message) in cases {
            let line = logs.line(message);
            assert!(line.trim_start().starts_with(level), "{line}");
            assert!(line.contains("hostname=web-01"), "{line}");
            assert!(line.contains(&format!("condition={condition}")), "{line}");
        }
    }
}
