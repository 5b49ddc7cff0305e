//! Network configuration: live interfaces and routes read with `ip -j` (through the
//! runner), and the Netplan drop-ins osapi manages under `/etc/netplan` (`osapi-<name>.yaml`
//! for an interface, `osapi-<name>-routes.yaml` for its static routes, `osapi-dns.yaml`
//! for DNS). A change is rendered, parsed back and compared before it is written (mode
//! 0600), checked with `netplan generate` (rolled back when that fails), then applied with
//! one `netplan apply`; an unchanged request writes and runs nothing.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::system::LinuxSystem;
use super::ProviderError;
pub use crate::wire::ops::netplan::{InterfaceConfig, InterfaceInfo, RouteInfo, RouteItem};

/// Reads the live network and changes the managed Netplan drop-ins. Writes return whether
/// anything changed.
pub trait NetplanProvider: Send + Sync {
    /// Every interface but loopback, by index.
    fn interfaces(&self) -> Result<Vec<InterfaceInfo>, ProviderError>;
    /// One interface; `NotFound` when the host has none of that name.
    fn interface(&self, name: &str) -> Result<InterfaceInfo, ProviderError>;
    /// Writes and applies `osapi-<name>.yaml`. `create` refuses one already managed with
    /// other settings; an update refuses one not managed.
    fn set_interface(&self, config: &InterfaceConfig, create: bool) -> Result<bool, ProviderError>;
    /// Removes `osapi-<name>.yaml` and applies; `false` when it was not managed.
    fn delete_interface(&self, name: &str) -> Result<bool, ProviderError>;
    /// Live routes, IPv4 then IPv6 (local, broadcast, anycast, multicast and host-scope
    /// routes left out).
    fn routes(&self) -> Result<Vec<RouteInfo>, ProviderError>;
    /// The static routes osapi manages for `interface`; `NotFound` when none.
    fn managed_routes(&self, interface: &str) -> Result<Vec<RouteInfo>, ProviderError>;
    /// Writes and applies `osapi-<interface>-routes.yaml` (create/update as for interfaces).
    fn set_routes(
        &self,
        interface: &str,
        routes: &[RouteItem],
        create: bool,
    ) -> Result<bool, ProviderError>;
    /// Removes `osapi-<interface>-routes.yaml` and applies; `false` when not managed.
    fn delete_routes(&self, interface: &str) -> Result<bool, ProviderError>;
    /// Removes `osapi-dns.yaml` and applies; `false` when there is none.
    fn delete_dns(&self) -> Result<bool, ProviderError>;
    /// Whether Netplan configures this host (its tool is installed and `/etc/netplan`
    /// exists): DNS changes then go to `osapi-dns.yaml`, as the original's.
    fn manages_network(&self) -> bool;
    /// Writes and applies `osapi-dns.yaml` with `interface`'s name servers and search
    /// domains (`None` keeps the managed ones); `override_dhcp` stops DHCP's DNS servers
    /// from being merged in.
    fn set_dns(&self, dns: &DnsSettings<'_>) -> Result<bool, ProviderError>;
}

/// DNS settings for the managed drop-in.
pub struct DnsSettings<'a> {
    pub interface: &'a str,
    pub servers: Option<&'a [String]>,
    pub search_domains: Option<&'a [String]>,
    pub override_dhcp: bool,
}

/// How a write treats a drop-in that exists (or does not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Write {
    /// Refuses one that exists with other content.
    Create,
    /// Refuses one that does not exist.
    Update,
    /// Writes either way.
    Replace,
}

impl Write {
    fn of(create: bool) -> Self {
        if create {
            Self::Create
        } else {
            Self::Update
        }
    }
}

/// Netplan under the system's root, applied through its runner.
pub type LinuxNetplan = LinuxSystem;

const DIR: &str = "etc/netplan";

/// One device's settings in a Netplan document (the keys osapi writes).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Device {
    dhcp4: Option<bool>,
    dhcp6: Option<bool>,
    addresses: Option<Vec<String>>,
    gateway4: Option<String>,
    gateway6: Option<String>,
    mtu: Option<u32>,
    macaddress: Option<String>,
    wakeonlan: Option<bool>,
    routes: Option<Vec<NetplanRoute>>,
    nameservers: Option<Nameservers>,
    #[serde(rename = "dhcp4-overrides")]
    dhcp4_overrides: Option<DhcpOverrides>,
    #[serde(rename = "dhcp6-overrides")]
    dhcp6_overrides: Option<DhcpOverrides>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Nameservers {
    addresses: Option<Vec<String>>,
    search: Option<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DhcpOverrides {
    #[serde(rename = "use-dns")]
    use_dns: bool,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NetplanRoute {
    to: String,
    via: String,
    metric: Option<u32>,
}

/// `network: {version: 2, <section>: {<device>: {...}}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    network: Network,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Network {
    version: u8,
    #[serde(flatten)]
    sections: BTreeMap<String, BTreeMap<String, Device>>,
}

impl Document {
    fn one(section: &str, name: &str, device: Device) -> Self {
        Self {
            network: Network {
                version: 2,
                sections: BTreeMap::from([(
                    section.to_owned(),
                    BTreeMap::from([(name.to_owned(), device)]),
                )]),
            },
        }
    }

    /// The settings of `name`, in whichever section.
    fn device(&self, name: &str) -> Option<&Device> {
        self.network.sections.values().find_map(|s| s.get(name))
    }

    /// The YAML, checked: it parses back into this very document, version 2.
    fn render(&self) -> Result<String, ProviderError> {
        let invalid = |e: &dyn std::fmt::Display| {
            ProviderError::Failed(format!("generated netplan YAML is invalid: {e}"))
        };
        let text = serde_yaml::to_string(self).map_err(|e| invalid(&e))?;
        let back: Document = serde_yaml::from_str(&text).map_err(|e| invalid(&e))?;
        if &back != self || back.network.version != 2 {
            return Err(invalid(&"it does not read back as written"));
        }
        Ok(text)
    }
}

impl From<&InterfaceConfig> for Device {
    fn from(c: &InterfaceConfig) -> Self {
        Self {
            dhcp4: c.dhcp4,
            dhcp6: c.dhcp6,
            addresses: c.addresses.clone(),
            gateway4: c.gateway4.clone(),
            gateway6: c.gateway6.clone(),
            mtu: c.mtu,
            macaddress: c.mac_address.clone(),
            wakeonlan: c.wakeonlan,
            ..Self::default()
        }
    }
}

impl LinuxNetplan {
    fn netplan_file(&self, stem: &str) -> PathBuf {
        self.root.join(format!("{DIR}/osapi-{stem}.yaml"))
    }

    /// The Netplan section a device of this kind belongs in, from sysfs.
    fn netplan_section(&self, name: &str) -> &'static str {
        let sys = |leaf: &str| {
            self.root
                .join(format!("sys/class/net/{name}/{leaf}"))
                .exists()
        };
        if sys("wireless") {
            "wifis"
        } else if sys("bridge") {
            "bridges"
        } else if sys("bonding") {
            "bonds"
        } else {
            "ethernets"
        }
    }

    fn need_netplan(&self) -> Result<(), ProviderError> {
        if self.runner.has("netplan") {
            Ok(())
        } else {
            Err(ProviderError::Unsupported(
                "netplan is not installed".into(),
            ))
        }
    }

    /// `netplan generate`, on the root's own tree when it is not the host's.
    fn netplan_generate(&self) -> Result<(), ProviderError> {
        let root = self.root.join("");
        let root = root.to_string_lossy();
        let mut argv = vec!["netplan", "generate"];
        if !self.root.is_host() {
            argv.extend(["--root-dir", &root]);
        }
        self.runner.check(&argv).map(drop)
    }

    /// Writes `doc` as drop-in `stem` and applies it. Create refuses a drop-in that
    /// exists with other content; update refuses one that does not exist.
    fn netplan_put(&self, stem: &str, doc: &Document, write: Write) -> Result<bool, ProviderError> {
        let text = doc.render()?;
        let path = self.netplan_file(stem);
        let current = std::fs::read_to_string(&path).ok();
        match (&current, write) {
            (Some(now), _) if *now == text => return Ok(false),
            (Some(_), Write::Create) => {
                return Err(ProviderError::InvalidInput(format!(
                    "/{DIR}/osapi-{stem}.yaml is already managed with other settings: update it instead"
                )))
            }
            (None, Write::Update) => {
                return Err(ProviderError::NotFound(format!(
                    "/{DIR}/osapi-{stem}.yaml is not managed by osapi"
                )))
            }
            _ => {}
        }
        self.need_netplan()?;
        let dir = self.root.join(DIR);
        std::fs::create_dir_all(&dir).map_err(|e| ProviderError::from_io(&format!("/{DIR}"), e))?;
        super::host::write_atomic_mode(&path, text.as_bytes(), 0o600)?;
        if let Err(e) = self.netplan_generate() {
            self.netplan_roll_back(&path, current.as_deref());
            return Err(e);
        }
        self.runner.check(&["netplan", "apply"])?;
        Ok(true)
    }

    /// Drop-in `stem` parsed, `None` when it does not exist.
    fn netplan_document(&self, stem: &str) -> Result<Option<Document>, ProviderError> {
        let path = self.netplan_file(stem);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return Ok(None);
        };
        serde_yaml::from_str(&text)
            .map(Some)
            .map_err(|e| ProviderError::Failed(format!("{}: {e}", path.display())))
    }

    /// Puts back what was there before a change netplan refused.
    fn netplan_roll_back(&self, path: &std::path::Path, before: Option<&str>) {
        let restored = match before {
            Some(text) => super::host::write_atomic_mode(path, text.as_bytes(), 0o600),
            None => std::fs::remove_file(path)
                .map_err(|e| ProviderError::from_io(&path.display().to_string(), e)),
        };
        if let Err(e) = restored {
            tracing::warn!(error = %e, "netplan drop-in not rolled back");
        }
    }

    /// Removes drop-in `stem` and applies; `false` when it does not exist.
    fn netplan_remove(&self, stem: &str) -> Result<bool, ProviderError> {
        let path = self.netplan_file(stem);
        if !path.exists() {
            return Ok(false);
        }
        self.need_netplan()?;
        std::fs::remove_file(&path)
            .map_err(|e| ProviderError::from_io(&path.display().to_string(), e))?;
        self.runner.check(&["netplan", "apply"])?;
        Ok(true)
    }

    /// `ip -j <args>` as JSON rows (none when it prints nothing).
    fn ip_json<T: serde::de::DeserializeOwned>(
        &self,
        args: &[&str],
    ) -> Result<Vec<T>, ProviderError> {
        if !self.runner.has("ip") {
            return Err(ProviderError::Unsupported(
                "ip (iproute2) is not installed".into(),
            ));
        }
        let mut argv = vec!["ip", "-j"];
        argv.extend(args);
        let out = self.runner.check(&argv)?;
        if out.trim().is_empty() {
            return Ok(Vec::new());
        }
        serde_json::from_str(&out).map_err(|e| {
            ProviderError::Failed(format!("{}: unexpected output: {e}", argv.join(" ")))
        })
    }

    /// The main table's routes of both families, as `ip` lists them.
    fn ip_routes(&self) -> Result<Vec<IpRoute>, ProviderError> {
        let mut routes: Vec<IpRoute> = self.ip_json(&["route", "show"])?;
        routes.extend(self.ip_json::<IpRoute>(&["-6", "route", "show"])?);
        Ok(routes)
    }
}

/// A row of `ip -j addr show`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IpLink {
    ifindex: u32,
    ifname: String,
    mtu: Option<u32>,
    operstate: Option<String>,
    link_type: Option<String>,
    address: Option<String>,
    addr_info: Vec<IpAddress>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IpAddress {
    family: String,
    local: String,
    prefixlen: u8,
    scope: Option<String>,
    dynamic: Option<bool>,
}

/// A row of `ip -j route show`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct IpRoute {
    dst: String,
    gateway: Option<String>,
    dev: Option<String>,
    metric: Option<u32>,
    scope: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

impl IpRoute {
    fn is_default(&self) -> bool {
        self.dst == "default"
    }

    fn listed(&self) -> bool {
        let special = matches!(
            self.kind.as_deref(),
            Some("local" | "broadcast" | "anycast" | "multicast")
        );
        !special && self.scope.as_deref() != Some("host")
    }
}

/// An interface's live state from its `ip` row and the routing table.
fn interface_info(link: &IpLink, routes: &[IpRoute]) -> InterfaceInfo {
    let of = |family: &'static str| link.addr_info.iter().filter(move |a| a.family == family);
    let first = |family: &'static str| {
        of(family)
            .find(|a| a.scope.as_deref() != Some("link"))
            .map(|a| a.local.clone())
    };
    let gateway = |v4: bool| {
        routes
            .iter()
            .filter(|r| r.is_default() && r.dev.as_deref() == Some(link.ifname.as_str()))
            .filter_map(|r| r.gateway.clone())
            .find(|g| g.contains(':') != v4)
    };
    let (ipv4, ipv6) = (first("inet"), first("inet6"));
    let family = match (&ipv4, &ipv6) {
        (Some(_), _) => Some("inet".to_owned()),
        (None, Some(_)) => Some("inet6".to_owned()),
        _ => None,
    };
    let gateway4 = gateway(true);
    InterfaceInfo {
        name: link.ifname.clone(),
        ipv4,
        ipv6,
        mac: link.address.clone(),
        family,
        addresses: link
            .addr_info
            .iter()
            .map(|a| format!("{}/{}", a.local, a.prefixlen))
            .collect(),
        mtu: link.mtu,
        state: link.operstate.as_ref().map(|s| s.to_lowercase()),
        dhcp4: of("inet").any(|a| a.dynamic == Some(true)),
        dhcp6: of("inet6").any(|a| a.dynamic == Some(true)),
        primary: gateway4.is_some(),
        gateway4,
        gateway6: gateway(false),
    }
}

impl NetplanProvider for LinuxNetplan {
    fn interfaces(&self) -> Result<Vec<InterfaceInfo>, ProviderError> {
        let mut links: Vec<IpLink> = self.ip_json(&["addr", "show"])?;
        links.retain(|l| l.link_type.as_deref() != Some("loopback") && l.ifname != "lo");
        links.sort_by_key(|l| l.ifindex);
        let routes = self.ip_routes()?;
        Ok(links.iter().map(|l| interface_info(l, &routes)).collect())
    }

    fn interface(&self, name: &str) -> Result<InterfaceInfo, ProviderError> {
        self.interfaces()?
            .into_iter()
            .find(|i| i.name == name)
            .ok_or_else(|| ProviderError::NotFound(format!("interface {name:?}")))
    }

    fn set_interface(&self, config: &InterfaceConfig, create: bool) -> Result<bool, ProviderError> {
        let name = &config.name;
        let doc = Document::one(self.netplan_section(name), name, Device::from(config));
        self.netplan_put(name, &doc, Write::of(create))
    }

    fn delete_interface(&self, name: &str) -> Result<bool, ProviderError> {
        self.netplan_remove(name)
    }

    fn routes(&self) -> Result<Vec<RouteInfo>, ProviderError> {
        Ok(self
            .ip_routes()?
            .into_iter()
            .filter(IpRoute::listed)
            .map(|r| RouteInfo {
                destination: r.dst,
                gateway: r.gateway.unwrap_or_default(),
                interface: r.dev.unwrap_or_default(),
                metric: r.metric,
                scope: r.scope,
            })
            .collect())
    }

    fn managed_routes(&self, interface: &str) -> Result<Vec<RouteInfo>, ProviderError> {
        let none =
            || ProviderError::NotFound(format!("no routes of {interface:?} are managed by osapi"));
        let doc = self
            .netplan_document(&format!("{interface}-routes"))?
            .ok_or_else(none)?;
        let routes = doc
            .device(interface)
            .and_then(|d| d.routes.clone())
            .ok_or_else(none)?;
        Ok(routes
            .into_iter()
            .map(|r| RouteInfo {
                destination: r.to,
                gateway: r.via,
                interface: interface.to_owned(),
                metric: r.metric,
                scope: None,
            })
            .collect())
    }

    fn set_routes(
        &self,
        interface: &str,
        routes: &[RouteItem],
        create: bool,
    ) -> Result<bool, ProviderError> {
        let device = Device {
            routes: Some(
                routes
                    .iter()
                    .map(|r| NetplanRoute {
                        to: r.to.clone(),
                        via: r.via.clone(),
                        // As the original: a metric only when above 0.
                        metric: r.metric.filter(|m| *m > 0),
                    })
                    .collect(),
            ),
            ..Device::default()
        };
        let doc = Document::one(self.netplan_section(interface), interface, device);
        self.netplan_put(&format!("{interface}-routes"), &doc, Write::of(create))
    }

    fn delete_routes(&self, interface: &str) -> Result<bool, ProviderError> {
        self.netplan_remove(&format!("{interface}-routes"))
    }

    fn delete_dns(&self) -> Result<bool, ProviderError> {
        if self.root.in_container() {
            return Err(ProviderError::Unsupported(
                "DNS in a container is set by its runtime (docker run --dns); change it there"
                    .into(),
            ));
        }
        self.netplan_remove("dns")
    }

    fn manages_network(&self) -> bool {
        self.runner.has("netplan") && self.root.join(DIR).is_dir()
    }

    fn set_dns(&self, dns: &DnsSettings<'_>) -> Result<bool, ProviderError> {
        if self.root.in_container() {
            return Err(ProviderError::Unsupported(
                "DNS in a container is set by its runtime (docker run --dns); change it there"
                    .into(),
            ));
        }
        let managed = self
            .netplan_document("dns")?
            .and_then(|doc| doc.device(dns.interface).cloned())
            .and_then(|d| d.nameservers)
            .unwrap_or_default();
        let keep = |given: Option<&[String]>, current: Option<Vec<String>>| {
            given
                .map(<[String]>::to_vec)
                .or(current)
                .filter(|v| !v.is_empty())
        };
        let overrides = dns
            .override_dhcp
            .then_some(DhcpOverrides { use_dns: false });
        let device = Device {
            nameservers: Some(Nameservers {
                addresses: keep(dns.servers, managed.addresses),
                search: keep(dns.search_domains, managed.search),
            }),
            dhcp4_overrides: overrides.clone(),
            dhcp6_overrides: overrides,
            ..Device::default()
        };
        let section = self.netplan_section(dns.interface);
        let doc = Document::one(section, dns.interface, device);
        self.netplan_put("dns", &doc, Write::Replace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::runner::{RecordingRunner, ToolOutput};
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;

    fn rooted() -> (tempfile::TempDir, LinuxNetplan, Arc<RecordingRunner>) {
        let root = tempfile::tempdir().unwrap();
        let runner = RecordingRunner::new();
        let p = LinuxNetplan {
            root: root.path().into(),
            runner: runner.clone(),
        };
        (root, p, runner)
    }

    fn calls(runner: &RecordingRunner) -> Vec<String> {
        let c = runner.calls().iter().map(|c| c.join(" ")).collect();
        runner.clear();
        c
    }

    fn eth0() -> InterfaceConfig {
        InterfaceConfig {
            name: "eth0".into(),
            dhcp4: Some(false),
            addresses: Some(vec!["192.0.2.10/24".into()]),
            gateway4: Some("192.0.2.1".into()),
            mtu: Some(1400),
            ..Default::default()
        }
    }

    #[test]
    fn interface_drop_ins_are_written_once_and_applied_once() {
        let (root, p, runner) = rooted();
        let generate = format!("netplan generate --root-dir {}/", root.path().display());
        assert!(p.set_interface(&eth0(), true).unwrap());
        assert_eq!(
            calls(&runner),
            [generate.clone(), "netplan apply".to_owned()]
        );
        let file = root.path().join("etc/netplan/osapi-eth0.yaml");
        let text = std::fs::read_to_string(&file).unwrap();
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let dev = &doc["network"]["ethernets"]["eth0"];
        assert_eq!(doc["network"]["version"], 2);
        assert_eq!(dev["addresses"][0], "192.0.2.10/24");
        assert_eq!(
            (dev["mtu"].as_u64(), dev["dhcp4"].as_bool()),
            (Some(1400), Some(false))
        );
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );

        assert!(!p.set_interface(&eth0(), true).unwrap(), "same settings");
        assert!(!p.set_interface(&eth0(), false).unwrap());
        assert!(
            calls(&runner).is_empty(),
            "an unchanged request ran something"
        );
        let mut other = eth0();
        other.mtu = Some(9000);
        assert!(
            p.set_interface(&other, true).is_err(),
            "create does not overwrite"
        );
        assert!(p.set_interface(&other, false).unwrap());
        assert_eq!(calls(&runner), [generate, "netplan apply".to_owned()]);
        let missing = InterfaceConfig {
            name: "eth1".into(),
            ..eth0()
        };
        assert!(matches!(
            p.set_interface(&missing, false),
            Err(ProviderError::NotFound(_))
        ));
        assert!(p.delete_interface("eth0").unwrap());
        assert!(!p.delete_interface("eth0").unwrap());
        assert_eq!(calls(&runner), ["netplan apply"]);
        assert!(!file.exists());
    }

    #[test]
    fn a_drop_in_netplan_refuses_is_rolled_back() {
        let (root, p, runner) = rooted();
        runner.answer(
            "netplan",
            ToolOutput {
                exit_code: 1,
                stderr: "Error in network definition: bad".into(),
                ..Default::default()
            },
        );
        let err = p.set_interface(&eth0(), true).unwrap_err();
        assert!(
            err.to_string().contains("Error in network definition"),
            "{err}"
        );
        assert!(!root.path().join("etc/netplan/osapi-eth0.yaml").exists());
        assert!(calls(&runner).iter().all(|c| !c.contains("apply")));
        runner.without("netplan");
        assert!(matches!(
            p.set_interface(&eth0(), true),
            Err(ProviderError::Unsupported(_))
        ));
    }

    #[test]
    fn routes_round_trip_through_their_drop_in() {
        let (root, p, runner) = rooted();
        std::fs::create_dir_all(root.path().join("sys/class/net/br0/bridge")).unwrap();
        let routes = [
            RouteItem {
                to: "10.0.0.0/8".into(),
                via: "192.0.2.1".into(),
                metric: Some(100),
            },
            RouteItem {
                to: "172.16.0.0/12".into(),
                via: "192.0.2.1".into(),
                metric: Some(0),
            },
        ];
        assert!(p.set_routes("br0", &routes, true).unwrap());
        assert!(!p.set_routes("br0", &routes, true).unwrap());
        let text =
            std::fs::read_to_string(root.path().join("etc/netplan/osapi-br0-routes.yaml")).unwrap();
        assert!(text.contains("bridges:"), "{text}");
        let managed = p.managed_routes("br0").unwrap();
        assert_eq!(
            managed
                .iter()
                .map(|r| (r.destination.as_str(), r.metric))
                .collect::<Vec<_>>(),
            [("10.0.0.0/8", Some(100)), ("172.16.0.0/12", None)]
        );
        assert!(matches!(
            p.managed_routes("eth9"),
            Err(ProviderError::NotFound(_))
        ));
        assert!(p.delete_routes("br0").unwrap());
        assert!(matches!(
            p.managed_routes("br0"),
            Err(ProviderError::NotFound(_))
        ));
        assert_eq!(
            calls(&runner)
                .iter()
                .filter(|c| *c == "netplan apply")
                .count(),
            2
        );
    }

    #[test]
    fn dns_drop_in_is_removed_once_and_skipped_in_containers() {
        let (root, p, runner) = rooted();
        assert!(!p.delete_dns().unwrap());
        std::fs::create_dir_all(root.path().join(DIR)).unwrap();
        std::fs::write(
            root.path().join("etc/netplan/osapi-dns.yaml"),
            "network: {version: 2}\n",
        )
        .unwrap();
        assert!(p.delete_dns().unwrap());
        assert!(!p.delete_dns().unwrap());
        assert_eq!(calls(&runner), ["netplan apply"]);
        std::fs::write(root.path().join(".dockerenv"), "").unwrap();
        assert!(matches!(p.delete_dns(), Err(ProviderError::Unsupported(_))));
    }

    #[test]
    fn dns_settings_persist_in_their_drop_in_with_the_dhcp_override() {
        let (root, p, runner) = rooted();
        assert!(!p.manages_network(), "no /etc/netplan under the root yet");
        std::fs::create_dir_all(root.path().join(DIR)).unwrap();
        assert!(p.manages_network());
        let servers = ["192.0.2.53".to_owned()];
        let mut dns = DnsSettings {
            interface: "eth0",
            servers: Some(&servers),
            search_domains: None,
            override_dhcp: true,
        };
        assert!(p.set_dns(&dns).unwrap());
        assert!(!p.set_dns(&dns).unwrap());
        let text = std::fs::read_to_string(root.path().join("etc/netplan/osapi-dns.yaml")).unwrap();
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let dev = &doc["network"]["ethernets"]["eth0"];
        assert_eq!(dev["nameservers"]["addresses"][0], "192.0.2.53");
        assert_eq!(dev["dhcp4-overrides"]["use-dns"], false);
        assert_eq!(dev["dhcp6-overrides"]["use-dns"], false);
        // Servers kept, search domains added, DHCP's DNS merged again.
        let search = ["example.test".to_owned()];
        dns.servers = None;
        dns.search_domains = Some(&search);
        dns.override_dhcp = false;
        assert!(p.set_dns(&dns).unwrap());
        let text = std::fs::read_to_string(root.path().join("etc/netplan/osapi-dns.yaml")).unwrap();
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let dev = &doc["network"]["ethernets"]["eth0"];
        assert_eq!(dev["nameservers"]["addresses"][0], "192.0.2.53");
        assert_eq!(dev["nameservers"]["search"][0], "example.test");
        assert!(dev["dhcp4-overrides"].is_null());
        assert_eq!(
            calls(&runner)
                .iter()
                .filter(|c| *c == "netplan apply")
                .count(),
            2
        );
    }

    #[test]
    fn live_state_from_recorded_ip_output() {
        let (_root, p, runner) = rooted();
        let answer = |argv: &[&str], out: &str| {
            runner.answer_argv(
                argv,
                ToolOutput {
                    stdout: out.into(),
                    ..Default::default()
                },
            )
        };
        answer(
            &["ip", "-j", "addr", "show"],
            r#"[{"ifindex":1,"ifname":"lo","link_type":"loopback","addr_info":[]},
                {"ifindex":3,"ifname":"eth1","mtu":1500,"operstate":"DOWN","address":"52:54:00:00:00:02","addr_info":[]},
                {"ifindex":2,"ifname":"eth0","mtu":1400,"operstate":"UP","address":"52:54:00:00:00:01",
                 "addr_info":[{"family":"inet","local":"192.0.2.2","prefixlen":24,"scope":"global","dynamic":true},
                              {"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"},
                              {"family":"inet6","local":"fd00::2","prefixlen":64,"scope":"global"}]}]"#,
        );
        answer(
            &["ip", "-j", "route", "show"],
            r#"[{"dst":"default","gateway":"192.0.2.1","dev":"eth0","metric":100},
                {"dst":"192.0.2.0/24","dev":"eth0","scope":"link"},
                {"dst":"127.0.0.0/8","dev":"lo","type":"local","scope":"host"}]"#,
        );
        answer(
            &["ip", "-j", "-6", "route", "show"],
            r#"[{"dst":"default","gateway":"fd00::1","dev":"eth0","metric":1024}]"#,
        );
        let list = p.interfaces().unwrap();
        assert_eq!(
            list.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(),
            ["eth0", "eth1"]
        );
        let eth0 = &list[0];
        assert_eq!(
            (
                eth0.ipv4.as_deref(),
                eth0.ipv6.as_deref(),
                eth0.family.as_deref()
            ),
            (Some("192.0.2.2"), Some("fd00::2"), Some("inet"))
        );
        assert!(eth0.dhcp4 && !eth0.dhcp6 && eth0.primary);
        assert_eq!(
            (
                eth0.gateway4.as_deref(),
                eth0.gateway6.as_deref(),
                eth0.state.as_deref()
            ),
            (Some("192.0.2.1"), Some("fd00::1"), Some("up"))
        );
        assert_eq!(eth0.addresses, ["192.0.2.2/24", "fe80::1/64", "fd00::2/64"]);
        assert!(!list[1].primary && list[1].family.is_none());
        assert!(matches!(
            p.interface("eth7"),
            Err(ProviderError::NotFound(_))
        ));
        let routes = p.routes().unwrap();
        assert_eq!(
            routes
                .iter()
                .map(|r| r.destination.as_str())
                .collect::<Vec<_>>(),
            ["default", "192.0.2.0/24", "default"]
        );
        assert_eq!(
            (routes[0].gateway.as_str(), routes[0].metric),
            ("192.0.2.1", Some(100))
        );
    }

    #[test]
    fn live_state_of_this_host_through_the_real_ip() {
        let p = LinuxNetplan::default();
        if !p.runner.has("ip") {
            return;
        }
        let names: Vec<String> = p
            .interfaces()
            .unwrap()
            .into_iter()
            .map(|i| i.name)
            .collect();
        let mut sys: Vec<String> = std::fs::read_dir("/sys/class/net")
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n != "lo")
            .collect();
        sys.sort();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, sys);
    }
}
