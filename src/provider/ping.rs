//! ICMP echo without a `ping` binary: surge-ping opens an unprivileged datagram ICMP
//! socket where `net.ipv4.ping_group_range` allows it, else a raw socket (root or
//! CAP_NET_RAW). IPv4 and IPv6.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use surge_ping::{Client, Config, IcmpPacket, PingIdentifier, PingSequence, SurgeError, ICMP};

use super::ProviderError;

/// Outcome of a series of echo requests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PingStats {
    pub packets_sent: u32,
    pub packets_received: u32,
    /// Percent.
    pub packet_loss: f64,
    pub min_rtt: Duration,
    pub avg_rtt: Duration,
    pub max_rtt: Duration,
}

/// Sends ICMP echo requests.
pub trait Pinger: Send + Sync {
    /// `count` echo requests (at least 1), 200 ms apart, each waiting up to `timeout` for
    /// its reply; unanswered ones count as lost.
    fn ping(
        &self,
        addr: IpAddr,
        count: u32,
        timeout: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<PingStats, ProviderError>> + Send + '_>>;
}

/// ICMP echo with surge-ping: an unprivileged datagram ICMP socket where
/// `net.ipv4.ping_group_range` admits the agent's group (it covers IPv6 too), else a raw
/// socket (root or CAP_NET_RAW).
pub struct LinuxPinger;

/// Pause between requests, as `ping -i 0.2` (the shortest unprivileged `ping` allows).
const INTERVAL: Duration = Duration::from_millis(200);

/// Echo payload size, as `ping`'s default.
const PAYLOAD: [u8; 56] = [0; 56];

/// Distinct identifiers for concurrent pings in this process: raw sockets see every echo
/// reply on the host, and surge-ping matches replies by (address, identifier, sequence).
/// Datagram sockets ignore it (the kernel uses the socket's port).
fn next_identifier() -> PingIdentifier {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    // Start from the pid so that two agents on one host do not begin at the same value.
    PingIdentifier((std::process::id() as u16).wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)))
}

fn open_error(e: std::io::Error) -> ProviderError {
    if e.kind() != std::io::ErrorKind::PermissionDenied {
        return ProviderError::Failed(format!("cannot open an ICMP socket: {e}"));
    }
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ping_group_range")
        .map(|r| r.split_whitespace().collect::<Vec<_>>().join("-"))
        .unwrap_or_else(|_| "unknown".into());
    // The effective gid is the second field of the "Gid:" line.
    let gid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Gid:"))
                .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        })
        .unwrap_or_else(|| "unknown".into());
    ProviderError::PermissionDenied(format!(
        "cannot open an ICMP socket ({e}): the agent's group {gid} is outside \
         net.ipv4.ping_group_range ({range}) and it lacks CAP_NET_RAW for a raw socket"
    ))
}

async fn ping(addr: IpAddr, count: u32, timeout: Duration) -> Result<PingStats, ProviderError> {
    if count == 0 {
        return Err(ProviderError::InvalidInput(
            "ping count must be at least 1".into(),
        ));
    }
    let kind = if addr.is_ipv4() { ICMP::V4 } else { ICMP::V6 };
    // surge-ping tries a datagram socket first and falls back to a raw one itself.
    let client = Client::new(&Config::builder().kind(kind).build()).map_err(open_error)?;
    let mut pinger = client.pinger(addr, next_identifier()).await;
    pinger.timeout(timeout);
    let mut rtts = Vec::new();
    for seq in 0..count {
        if seq > 0 {
            tokio::time::sleep(INTERVAL).await;
        }
        // Sequence numbers are 16 bits on the wire; long series wrap like `ping`'s do.
        match pinger.ping(PingSequence(seq as u16), &PAYLOAD).await {
            Ok((packet, rtt)) if is_echo_reply(&packet) => rtts.push(rtt),
            // An ICMP error (unreachable, TTL exceeded) about our request: lost.
            Ok(_) | Err(SurgeError::Timeout { .. }) => {}
            Err(SurgeError::IOError(e)) => {
                return Err(ProviderError::from_io(&format!("ping {addr}"), e))
            }
            Err(e) => return Err(ProviderError::Failed(format!("ping {addr}: {e}"))),
        }
    }
    Ok(stats(count, &rtts))
}

fn is_echo_reply(packet: &IcmpPacket) -> bool {
    match packet {
        IcmpPacket::V4(p) => p.get_icmp_type().0 == 0,
        IcmpPacket::V6(p) => p.get_icmpv6_type().0 == 129,
    }
}

/// Summary of `sent` requests of which those in `rtts` were answered.
fn stats(sent: u32, rtts: &[Duration]) -> PingStats {
    let received = u32::try_from(rtts.len()).unwrap_or(u32::MAX).min(sent);
    let lost = sent - received;
    PingStats {
        packets_sent: sent,
        packets_received: received,
        packet_loss: if sent == 0 {
            0.0
        } else {
            f64::from(lost) * 100.0 / f64::from(sent)
        },
        min_rtt: rtts.iter().min().copied().unwrap_or_default(),
        avg_rtt: match received {
            0 => Duration::ZERO,
            n => rtts.iter().sum::<Duration>() / n,
        },
        max_rtt: rtts.iter().max().copied().unwrap_or_default(),
    }
}

impl Pinger for LinuxPinger {
    fn ping(
        &self,
        addr: IpAddr,
        count: u32,
        timeout: Duration,
    ) -> Pin<Box<dyn Future<Output = Result<PingStats, ProviderError>> + Send + '_>> {
        Box::pin(ping(addr, count, timeout))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pings `addr` `count` times with a 2 s wait.
    async fn try_ping(addr: &str, count: u32) -> Result<PingStats, ProviderError> {
        let addr: IpAddr = addr.parse().unwrap();
        LinuxPinger.ping(addr, count, Duration::from_secs(2)).await
    }

    #[tokio::test]
    async fn loopback_v4_answers() {
        let s = try_ping("127.0.0.1", 3).await.unwrap();
        assert_eq!((s.packets_sent, s.packets_received), (3, 3));
        assert_eq!(s.packet_loss, 0.0);
        assert!(s.min_rtt <= s.avg_rtt && s.avg_rtt <= s.max_rtt, "{s:?}");
        assert!(s.max_rtt < Duration::from_secs(2), "{s:?}");
    }

    #[tokio::test]
    async fn loopback_v6_answers_where_available() {
        if std::net::UdpSocket::bind("[::1]:0").is_err() {
            eprintln!("no IPv6 loopback on this host: skipped");
            return;
        }
        let s = try_ping("::1", 2).await.unwrap();
        assert_eq!((s.packets_sent, s.packets_received), (2, 2));
    }

    #[tokio::test]
    async fn concurrent_pings_do_not_steal_replies() {
        let (a, b) = tokio::join!(try_ping("127.0.0.1", 2), try_ping("127.0.0.1", 2));
        assert_eq!(a.unwrap().packets_received, 2);
        assert_eq!(b.unwrap().packets_received, 2);
    }

    #[tokio::test]
    async fn zero_count_is_invalid() {
        let e = try_ping("127.0.0.1", 0).await.unwrap_err();
        assert!(matches!(e, ProviderError::InvalidInput(_)), "{e}");
    }

    #[test]
    fn stats_count_loss() {
        // Loss cannot be provoked reliably on loopback without touching the firewall, so
        // the arithmetic is checked on its own.
        let ms = Duration::from_millis;
        let s = stats(4, &[ms(1), ms(3)]);
        assert_eq!((s.packets_sent, s.packets_received), (4, 2));
        assert_eq!(s.packet_loss, 50.0);
        assert_eq!((s.min_rtt, s.avg_rtt, s.max_rtt), (ms(1), ms(2), ms(3)));
        let none = stats(3, &[]);
        assert_eq!(none.packet_loss, 100.0);
        assert_eq!(none.avg_rtt, Duration::ZERO);
    }

    #[test]
    fn permission_error_explains_the_fix() {
        let e = open_error(std::io::Error::from_raw_os_error(nix::libc::EPERM));
        assert!(matches!(e, ProviderError::PermissionDenied(_)), "{e}");
        assert!(e.to_string().contains("ping_group_range"), "{e}");
        assert!(e.to_string().contains("CAP_NET_RAW"), "{e}");
    }
}
