//! Facts about the agent's host, and `@fact.<key>` substitution in job data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::provider::node::NodeProvider;

/// Facts about the host: reported in the facts bucket every `agent.facts.interval` and
/// used to resolve `@fact.*` references. Serialised with the original's `AgentInfo` field
/// names, since `AgentInfo` flattens them; empty fields are left out.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Facts {
    /// The agent's identity hostname: `@fact.hostname` (on the wire it is the agent's own
    /// `hostname`).
    #[serde(skip)]
    pub hostname: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub architecture: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub kernel_version: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cpu_count: usize,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fqdn: String,
    #[serde(rename = "os_info", default, skip_serializing_if = "Option::is_none")]
    pub os: Option<OsFacts>,
    /// Bytes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub memory_total: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_mgr: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub package_mgr: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interfaces: Vec<Interface>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub primary_interface: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub containerized: bool,
    /// Extended facts (`@fact.custom.<key>`): the original's free-form `facts` object.
    #[serde(rename = "facts", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub custom: BTreeMap<String, String>,
    /// Always set: its presence tells a flattened `AgentInfo` that facts were reported.
    pub collected_at: String,
}

fn is_zero<T: Default + PartialEq>(n: &T) -> bool {
    *n == T::default()
}

/// Distribution and version.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct OsFacts {
    pub distribution: String,
    pub version: String,
}

/// A network interface that is up (loopback excluded): its first IPv4 and IPv6 address.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Interface {
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ipv4: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ipv6: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mac: String,
    /// `inet`, `inet6` or `dual`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub family: String,
}

/// A row of the kernel's IPv4 routing table.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Route {
    pub destination: String,
    pub gateway: String,
    pub interface: String,
    /// Prefix length, e.g. `/24`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mask: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub metric: u32,
    /// Raw hex flags.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub flags: String,
}

impl Facts {
    /// Reads the local facts. A part that cannot be read stays empty (and a reference to
    /// it fails clearly); collection itself never fails.
    pub fn collect(hostname: &str, node: &dyn NodeProvider) -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let os = node.os_info().ok().map(|o| OsFacts {
            distribution: o.distribution,
            version: o.version,
        });
        Self {
            hostname: hostname.to_owned(),
            architecture: std::env::consts::ARCH.to_owned(),
            kernel_version: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            cpu_count: std::thread::available_parallelism().map_or(0, |n| n.get()),
            fqdn: crate::provider::node::os_hostname().unwrap_or_else(|_| hostname.to_owned()),
            os,
            memory_total: node.memory().map(|m| m.total).unwrap_or(0),
            service_mgr: if std::path::Path::new("/run/systemd/system").exists() {
                "systemd".into()
            } else {
                "unknown".into()
            },
            package_mgr: package_manager(),
            interfaces: interfaces(),
            routes: routes(&read("/proc/net/route")),
            primary_interface: primary_interface(&read("/proc/net/route")).unwrap_or_default(),
            containerized: containerized(&read("/proc/1/cgroup"), &read("/proc/1/environ")),
            custom: BTreeMap::new(),
            collected_at: crate::job::record::rfc3339(time::OffsetDateTime::now_utc()),
        }
    }

    /// Facts bucket key.
    pub fn key(hostname: &str) -> String {
        format!("facts.{}", crate::job::target::sanitize_hostname(hostname))
    }

    fn get(&self, key: &str) -> Result<&str, String> {
        let value = match key {
            "hostname" => &self.hostname,
            "arch" => &self.architecture,
            "kernel" => &self.kernel_version,
            "fqdn" => &self.fqdn,
            "interface.primary" => &self.primary_interface,
            _ => match key.strip_prefix("custom.") {
                Some(k) => self
                    .custom
                    .get(k)
                    .ok_or_else(|| format!("fact @fact.{key} is not set on this host"))?,
                None => return Err(format!("unknown fact @fact.{key}")),
            },
        };
        if value.is_empty() {
            Err(format!("fact @fact.{key} is not available on this host"))
        } else {
            Ok(value)
        }
    }

    /// Replaces every `@fact.<key>` inside every string of `data`, recursively.
    pub fn resolve(&self, data: &mut Value) -> Result<(), String> {
        match data {
            Value::String(s) if s.contains("@fact.") => *s = self.substitute(s)?,
            Value::Array(items) => items.iter_mut().try_for_each(|v| self.resolve(v))?,
            Value::Object(map) => map.values_mut().try_for_each(|v| self.resolve(v))?,
            _ => {}
        }
        Ok(())
    }

    fn substitute(&self, s: &str) -> Result<String, String> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(at) = rest.find("@fact.") {
            out.push_str(&rest[..at]);
            let after = &rest[at + "@fact.".len()..];
            // A reference ends at a character that cannot be part of a fact key.
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
                .unwrap_or(after.len());
            let key = after[..end].trim_end_matches('.');
            out.push_str(self.get(key)?);
            rest = &after[key.len()..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Collects facts now and every `interval`, publishing them to the facts bucket and
/// refreshing the copy used for `@fact.*`.
pub async fn report(
    ctx: std::sync::Arc<crate::agent::consumer::JobContext>,
    interval: std::time::Duration,
    cancel: tokio_util::sync::CancellationToken,
) {
    let interval = interval.max(std::time::Duration::from_secs(1));
    let key = Facts::key(&ctx.exec.hostname);
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let node = ctx.exec.providers.node.clone();
        let host = ctx.exec.hostname.clone();
        let Ok(facts) =
            tokio::task::spawn_blocking(move || Facts::collect(&host, node.as_ref())).await
        else {
            continue;
        };
        match serde_json::to_vec(&facts) {
            Ok(body) => {
                if let Err(e) = ctx.resources.facts.put(&key, body.into()).await {
                    tracing::warn!(error = %e, "cannot publish facts");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot encode facts"),
        }
        if let Ok(mut current) = ctx.exec.facts.write() {
            *current = facts;
        }
    }
}

/// The first of apt, dnf, yum, zypper, apk, pacman on PATH.
fn package_manager() -> String {
    let path = std::env::var_os("PATH").unwrap_or_default();
    ["apt", "dnf", "yum", "zypper", "apk", "pacman"]
        .into_iter()
        .find(|pm| std::env::split_paths(&path).any(|d| d.join(pm).is_file()))
        .unwrap_or("unknown")
        .to_owned()
}

/// Inside a container: marker files, or PID 1's cgroup or environment says so.
fn containerized(pid1_cgroup: &str, pid1_environ: &str) -> bool {
    std::path::Path::new("/.dockerenv").exists()
        || std::path::Path::new("/run/.containerenv").exists()
        || ["docker", "kubepods", "containerd", "lxc", "libpod"]
            .iter()
            .any(|m| pid1_cgroup.contains(m))
        || pid1_environ
            .split('\0')
            .any(|v| v.starts_with("container="))
}

/// Interfaces that are up, with their addresses and MAC (loopback left out).
fn interfaces() -> Vec<Interface> {
    use nix::net::if_::InterfaceFlags;
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    let mut by_name: BTreeMap<String, Interface> = BTreeMap::new();
    for a in addrs {
        if a.flags.contains(InterfaceFlags::IFF_LOOPBACK)
            || !a.flags.contains(InterfaceFlags::IFF_UP)
        {
            continue;
        }
        let entry = by_name
            .entry(a.interface_name.clone())
            .or_insert_with(|| Interface {
                name: a.interface_name.clone(),
                ..Default::default()
            });
        let Some(addr) = a.address else { continue };
        if let Some(v4) = addr.as_sockaddr_in() {
            if entry.ipv4.is_empty() {
                entry.ipv4 = v4.ip().to_string();
            }
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            if entry.ipv6.is_empty() {
                entry.ipv6 = v6.ip().to_string();
            }
        } else if let Some(mac) = addr.as_link_addr().and_then(|l| l.addr()) {
            entry.mac = mac
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":");
        }
    }
    for i in by_name.values_mut() {
        i.family = match (i.ipv4.is_empty(), i.ipv6.is_empty()) {
            (false, false) => "dual",
            (false, true) => "inet",
            (true, false) => "inet6",
            (true, true) => "",
        }
        .to_owned();
    }
    by_name.into_values().collect()
}

/// The routes of `/proc/net/route`: addresses are little-endian hex, the mask becomes a
/// prefix length.
fn routes(table: &str) -> Vec<Route> {
    let addr = |hex: &str| {
        u32::from_str_radix(hex, 16)
            .ok()
            .map(|n| std::net::Ipv4Addr::from(n.swap_bytes()).to_string())
    };
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.len() < 8 {
                return None;
            }
            let mask = u32::from_str_radix(cols[7], 16).ok()?;
            Some(Route {
                interface: cols[0].to_owned(),
                destination: addr(cols[1])?,
                gateway: addr(cols[2])?,
                flags: cols[3].to_owned(),
                metric: cols[6].parse().unwrap_or(0),
                mask: format!("/{}", mask.count_ones()),
            })
        })
        .collect()
}

/// The interface of the default route in `/proc/net/route`.
fn primary_interface(routes: &str) -> Option<String> {
    routes.lines().skip(1).find_map(|line| {
        let mut cols = line.split_whitespace();
        let iface = cols.next()?;
        (cols.next()? == "00000000").then(|| iface.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts() -> Facts {
        Facts {
            hostname: "web-01".into(),
            architecture: "x86_64".into(),
            kernel_version: "6.1.0".into(),
            fqdn: "web-01.example".into(),
            primary_interface: "eth0".into(),
            custom: BTreeMap::from([("rack".to_string(), "r12".to_string())]),
            ..Default::default()
        }
    }

    #[test]
    fn resolves_references_everywhere() {
        let mut data = json!({
            "interface": "@fact.interface.primary",
            "args": ["host=@fact.hostname", "@fact.arch/@fact.kernel", 3],
            "nested": {"x": "@fact.custom.rack."}
        });
        facts().resolve(&mut data).unwrap();
        assert_eq!(
            data,
            json!({
                "interface": "eth0",
                "args": ["host=web-01", "x86_64/6.1.0", 3],
                "nested": {"x": "r12."}
            })
        );
    }

    #[test]
    fn unknown_or_missing_facts_fail_clearly() {
        let mut data = json!("@fact.os");
        assert!(facts()
            .resolve(&mut data)
            .unwrap_err()
            .contains("unknown fact"));
        let mut data = json!("@fact.custom.zone");
        assert!(facts().resolve(&mut data).unwrap_err().contains("not set"));
        let empty = Facts::default();
        let mut data = json!("@fact.interface.primary");
        assert!(empty
            .resolve(&mut data)
            .unwrap_err()
            .contains("not available"));
    }

    #[test]
    fn container_detection_from_pid1() {
        assert!(containerized("0::/kubepods/burstable/pod1", ""));
        assert!(containerized("", "PATH=/bin\0container=podman\0"));
    }

    #[test]
    fn default_route_interface() {
        let table = "Iface\tDestination\tGateway\n\
                     eth1\t0000A8C0\t00000000\n\
                     eth0\t00000000\t0100A8C0\n";
        assert_eq!(primary_interface(table).as_deref(), Some("eth0"));
        assert_eq!(primary_interface("Iface\tDestination\n"), None);
    }

    #[test]
    fn routes_from_proc() {
        let table =
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n\
                     eth0\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n\
                     eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n";
        let r = routes(table);
        assert_eq!(r.len(), 2);
        assert_eq!(
            (
                r[0].destination.as_str(),
                r[0].gateway.as_str(),
                r[0].mask.as_str()
            ),
            ("0.0.0.0", "192.168.0.1", "/0")
        );
        assert_eq!((r[0].metric, r[0].flags.as_str()), (100, "0003"));
        assert_eq!(
            (
                r[1].destination.as_str(),
                r[1].mask.as_str(),
                r[1].interface.as_str()
            ),
            ("192.168.0.0", "/24", "eth0")
        );
    }

    #[test]
    fn serialised_with_the_original_names() {
        let mut f = facts();
        f.os = Some(OsFacts {
            distribution: "Ubuntu".into(),
            version: "24.04".into(),
        });
        f.collected_at = "2025-01-01T00:00:00Z".into();
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["os_info"]["distribution"], "Ubuntu");
        assert_eq!(v["facts"]["rack"], "r12");
        assert!(
            v.get("hostname").is_none() && v.get("custom").is_none(),
            "{v}"
        );
        assert!(v.get("cpu_count").is_none(), "zero is left out: {v}");
        let back: Facts = serde_json::from_value(v).unwrap();
        assert_eq!(
            back,
            Facts {
                hostname: String::new(),
                ..f
            }
        );
    }
}
