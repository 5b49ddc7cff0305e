//! NATS: the supervised embedded server, client connections and resource setup.

pub mod connect;
pub mod kv_scan;
pub mod resources;
pub mod supervisor;

pub use connect::{connect, connect_with_inbox, NatsError};

/// The error of a NATS client call, kept as a source for logs (never shown to clients).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
pub use resources::{Names, Resources};

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Runs `attempt` until it succeeds, waiting `first`, then twice as long each time (at
/// most 5 s), logging every failure: NATS may start after us, or another process may be
/// creating the same resources. `None` when `cancel` fires first.
pub async fn retry_until_ready<T, E, F, Fut>(
    cancel: &CancellationToken,
    first: Duration,
    mut attempt: F,
) -> Option<T>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut delay = first;
    loop {
        match attempt().await {
            Ok(ready) => return Some(ready),
            Err(e) => tracing::warn!(error = %e, retry_in = ?delay, "NATS not ready; retrying"),
        }
        tokio::select! {
            _ = cancel.cancelled() => return None,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
