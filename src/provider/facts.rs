//! Facts about this host, read from the kernel (`/proc`, `getifaddrs`), marker files and
//! `PATH`: what the agent reports and resolves `@fact.*` against.

use std::collections::BTreeMap;

use super::node::NodeProvider;
use super::system::SystemRoot;
use crate::wire::facts::{Facts, Interface, OsFacts, Route};

/// Collects the host's facts.
pub trait FactsProvider: Send + Sync {
    /// Reads the local facts; `hostname` is the agent's identity. A part that cannot be
    /// read stays empty (and a reference to it fails clearly); collection never fails.
    /// Blocking: call it off the async workers.
    fn collect(&self, hostname: &str, node: &dyn NodeProvider) -> Facts;
}

/// Facts of the Linux host whose files live under `root` (`/` in production).
/// Interfaces come from `getifaddrs` and the package manager from `PATH`, which are the
/// running system's whatever the root.
#[derive(Default)]
pub struct LinuxFacts {
    pub root: SystemRoot,
}

impl LinuxFacts {
    /// A file under the root, empty when unreadable.
    fn read(&self, path: &str) -> String {
        self.root.read_or_empty(path)
    }

    fn exists(&self, path: &str) -> bool {
        self.root.join(path).exists()
    }
}

impl FactsProvider for LinuxFacts {
    fn collect(&self, hostname: &str, node: &dyn NodeProvider) -> Facts {
        let os = node.os_info().ok().map(|o| OsFacts {
            distribution: o.distribution,
            version: o.version,
        });
        let route_table = self.read("proc/net/route");
        Facts {
            hostname: hostname.to_owned(),
            architecture: std::env::consts::ARCH.to_owned(),
            kernel_version: self.read("proc/sys/kernel/osrelease").trim().to_owned(),
            cpu_count: std::thread::available_parallelism().map_or(0, |n| n.get()),
            fqdn: super::node::os_hostname().unwrap_or_else(|_| hostname.to_owned()),
            os,
            memory_total: node.memory().map(|m| m.total).unwrap_or(0),
            service_mgr: if self.exists("run/systemd/system") {
                "systemd".into()
            } else {
                "unknown".into()
            },
            package_mgr: package_manager(),
            interfaces: interfaces(),
            routes: routes(&route_table),
            primary_interface: primary_interface(&route_table).unwrap_or_default(),
            containerized: self.root.in_container(),
            custom: BTreeMap::new(),
            collected_at: crate::wire::job::rfc3339(time::OffsetDateTime::now_utc()),
        }
    }
}

/// The first of apt, dnf, yum, zypper, apk, pacman on PATH.
fn package_manager() -> String {
    ["apt", "dnf", "yum", "zypper", "apk", "pacman"]
        .into_iter()
        .find(|pm| super::system::which(pm).is_some())
        .unwrap_or("unknown")
        .to_owned()
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
    fn reads_under_the_root() {
        let root = tempfile::tempdir().unwrap();
        let put = |path: &str, text: &str| {
            let path = root.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        put("proc/sys/kernel/osrelease", "6.1.0-test\n");
        put(
            "proc/net/route",
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n\
             eth9\t00000000\t0100A8C0\t0003\t0\t0\t100\t00000000\n",
        );
        put("run/.containerenv", "");
        std::fs::create_dir_all(root.path().join("run/systemd/system")).unwrap();
        let facts = LinuxFacts {
            root: root.path().into(),
        }
        .collect("web-01", &super::super::node::LinuxNode);
        assert_eq!(facts.hostname, "web-01");
        assert_eq!(facts.kernel_version, "6.1.0-test");
        assert_eq!(facts.primary_interface, "eth9");
        assert_eq!(facts.routes.len(), 1);
        assert_eq!(facts.service_mgr, "systemd");
        assert!(facts.containerized);
        assert!(!facts.collected_at.is_empty());
    }
}
