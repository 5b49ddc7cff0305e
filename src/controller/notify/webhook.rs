//! The webhook notifier. `notify` logs the event and queues it; one worker task POSTs
//! the queue in order, with a timeout per attempt and retries with exponential back-off,
//! so a slow or hung receiver never holds up the caller (the condition watcher).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use tokio::sync::mpsc::{self, error::TrySendError};

use super::{ConditionEvent, LogNotifier, Notifier};

/// Events waiting for the worker; past this, new events are dropped (and logged).
pub const QUEUE_CAPACITY: usize = 256;

/// Wait before the first retry, doubled after each.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);

/// The webhook notifier could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("cannot build the webhook HTTP client: {0}")]
    Client(#[source] reqwest::Error),
    #[error("the webhook worker needs a Tokio runtime")]
    NoRuntime,
}

/// One failed delivery attempt.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error("webhook refused the event with {0}")]
    Refused(reqwest::StatusCode),
    #[error("webhook unreachable: {0}")]
    Unreachable(#[source] reqwest::Error),
}

/// POSTs each event as JSON to a URL. Every event is also logged, so nothing is lost
/// when the endpoint is down. Dropping the notifier stops its worker.
pub struct WebhookNotifier {
    queue: mpsc::Sender<ConditionEvent>,
    worker: tokio::task::AbortHandle,
}

impl WebhookNotifier {
    /// `timeout` bounds each attempt; `retries` attempts follow a failed first one.
    /// Must be called within a Tokio runtime (it spawns the worker).
    pub fn new(url: &str, timeout: Duration, retries: u32) -> Result<Self, String> {
        Self::with_capacity(url, timeout, retries, QUEUE_CAPACITY).map_err(|e| e.to_string())
    }

    /// [`WebhookNotifier::new`] with a given queue capacity (at least 1).
    pub fn with_capacity(
        url: &str,
        timeout: Duration,
        retries: u32,
        capacity: usize,
    ) -> Result<Self, WebhookError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| WebhookError::NoRuntime)?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(WebhookError::Client)?;
        let worker = Worker {
            http,
            url: url.to_owned(),
            retries,
        };
        let (queue, rx) = mpsc::channel(capacity.max(1));
        let worker = runtime.spawn(worker.run(rx)).abort_handle();
        Ok(Self { queue, worker })
    }

    /// Queues the event for the worker, or drops it (logged) when the queue is full.
    fn enqueue(&self, e: &ConditionEvent) {
        let why = match self.queue.try_send(e.clone()) {
            Ok(()) => return,
            Err(TrySendError::Full(_)) => "queue full",
            Err(TrySendError::Closed(_)) => "worker stopped",
        };
        tracing::error!(
            kind = ?e.kind, component = %e.component, hostname = %e.hostname,
            condition = %e.condition, why, "webhook dropped event"
        );
    }
}

impl Drop for WebhookNotifier {
    /// Stops the worker at once, even in the middle of a delivery to a hung receiver.
    fn drop(&mut self) {
        self.worker.abort();
    }
}

impl Notifier for WebhookNotifier {
    /// Never waits on the network: logs, queues and returns.
    fn notify<'a>(
        &'a self,
        e: &'a ConditionEvent,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            LogNotifier.notify(e).await;
            self.enqueue(e);
        })
    }
}

/// Delivers queued events one at a time, in order.
struct Worker {
    http: reqwest::Client,
    url: String,
    retries: u32,
}

impl Worker {
    /// Runs until the queue closes (the notifier was dropped).
    async fn run(self, mut queue: mpsc::Receiver<ConditionEvent>) {
        while let Some(e) = queue.recv().await {
            self.deliver(&e).await;
        }
    }

    /// One event: the first attempt and up to `retries` more, backing off between them.
    async fn deliver(&self, e: &ConditionEvent) {
        let mut delay = FIRST_BACKOFF;
        for attempt in 0..=self.retries {
            match self.post(e).await {
                Ok(()) => return,
                Err(err) => tracing::warn!(
                    error = %err, attempt, hostname = %e.hostname, condition = %e.condition,
                    "webhook attempt failed"
                ),
            }
            if attempt < self.retries {
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
        }
        tracing::error!(
            kind = ?e.kind, component = %e.component, hostname = %e.hostname,
            condition = %e.condition, attempts = self.retries.saturating_add(1),
            "webhook gave up on event"
        );
    }

    /// One POST, bounded by the client's timeout.
    async fn post(&self, e: &ConditionEvent) -> Result<(), AttemptError> {
        let resp = self
            .http
            .post(&self.url)
            .json(e)
            .send()
            .await
            .map_err(AttemptError::Unreachable)?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            s => Err(AttemptError::Refused(s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::notify::tests::{event, Logs};
    use crate::controller::notify::EventKind;

    #[tokio::test]
    async fn a_full_queue_drops_the_event_with_an_error_naming_it() {
        // Accepts connections (backlog) but never answers.
        let hung = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/hook", hung.local_addr().expect("addr"));
        let hook =
            WebhookNotifier::with_capacity(&url, Duration::from_secs(5), 0, 1).expect("webhook");
        let (logs, _guard) = Logs::capture();
        // Single-threaded: the worker cannot take anything before the test yields.
        for host in ["web-01", "web-02", "web-03"] {
            hook.notify(&event(EventKind::Fired, host, "DiskPressure"))
                .await;
        }
        let dropped = logs.lines("webhook dropped event");
        assert_eq!(dropped.len(), 2, "{dropped:?}");
        for (line, host) in dropped.iter().zip(["web-02", "web-03"]) {
            assert!(line.trim_start().starts_with("ERROR"), "{line}");
            assert!(line.contains(&format!("hostname={host}")), "{line}");
            assert!(line.contains("condition=DiskPressure"), "{line}");
            assert!(line.contains("kind=Fired"), "{line}");
        }
        assert_eq!(
            logs.lines("condition fired").len(),
            3,
            "every event is logged"
        );
    }

    #[test]
    fn needs_a_runtime() {
        let err =
            WebhookNotifier::with_capacity("http://127.0.0.1:1/", Duration::from_secs(1), 0, 1);
        assert!(matches!(err, Err(WebhookError::NoRuntime)));
    }
}
