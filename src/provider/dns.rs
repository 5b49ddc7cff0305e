//! DNS servers and search domains: systemd-resolved where it runs (`resolvectl`, per
//! interface, runtime), a plain resolv.conf elsewhere (rewritten atomically).

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use super::system::SystemRoot;
use super::ProviderError;

/// An interface's (or the host's) resolver settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DnsConfig {
    pub servers: Vec<String>,
    pub search_domains: Vec<String>,
}

/// Reads and changes resolver settings.
pub trait DnsProvider: Send + Sync {
    /// The settings that apply to `interface`.
    fn get(&self, interface: &str) -> Result<DnsConfig, ProviderError>;
    /// Replaces the servers and/or search domains of `interface`; `None` keeps the current
    /// list, an empty slice clears it. Returns whether anything changed.
    fn update(
        &self,
        interface: &str,
        servers: Option<&[String]>,
        search_domains: Option<&[String]>,
    ) -> Result<bool, ProviderError>;
}

/// The DNS provider for this host: systemd-resolved when it runs and `resolvectl` is on
/// `PATH`, else `/etc/resolv.conf`; read-only in a container.
pub fn linux_dns() -> Arc<dyn DnsProvider> {
    let root = SystemRoot::default();
    let has_resolvectl = super::system::which("resolvectl").is_some();
    if has_resolvectl && root.join("run/systemd/resolve/stub-resolv.conf").exists() {
        Arc::new(Resolved)
    } else {
        for_root(&root)
    }
}

/// The resolv.conf of the system under `root`; read-only when that system is a
/// container, whose runtime writes (and rewrites) the file.
pub fn for_root(root: &SystemRoot) -> Arc<dyn DnsProvider> {
    let file = ResolvConf {
        path: root.join("etc/resolv.conf"),
    };
    if root.in_container() {
        Arc::new(ContainerDns(file))
    } else {
        Arc::new(file)
    }
}

/// DNS in a container: readable, but set by the container runtime (`--dns`), so an
/// update is skipped, as the original does, rather than written where it would be lost.
pub struct ContainerDns<P>(pub P);

impl<P: DnsProvider> DnsProvider for ContainerDns<P> {
    fn get(&self, interface: &str) -> Result<DnsConfig, ProviderError> {
        self.0.get(interface)
    }

    fn update(
        &self,
        _interface: &str,
        _servers: Option<&[String]>,
        _search_domains: Option<&[String]>,
    ) -> Result<bool, ProviderError> {
        Err(ProviderError::Unsupported(
            "DNS in a container is set by its runtime (docker run --dns); change it there".into(),
        ))
    }
}

/// Rejects what the resolver could not use, and anything that could smuggle extra lines
/// into resolv.conf or options into `resolvectl`'s argument list.
fn validate(servers: Option<&[String]>, domains: Option<&[String]>) -> Result<(), ProviderError> {
    for s in servers.unwrap_or_default() {
        if s.parse::<IpAddr>().is_err() {
            return Err(ProviderError::InvalidInput(format!(
                "DNS server {s:?} is not an IP address"
            )));
        }
    }
    for d in domains.unwrap_or_default() {
        let ok = !d.is_empty()
            && d.len() <= 253
            && !d.starts_with(['-', '.'])
            && d.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !ok {
            return Err(ProviderError::InvalidInput(format!(
                "search domain {d:?} is not a domain name"
            )));
        }
    }
    Ok(())
}

/// `current` with the given lists replacing its own.
fn merged(
    current: &DnsConfig,
    servers: Option<&[String]>,
    domains: Option<&[String]>,
) -> DnsConfig {
    DnsConfig {
        servers: servers.map_or_else(|| current.servers.clone(), <[String]>::to_vec),
        search_domains: domains.map_or_else(|| current.search_domains.clone(), <[String]>::to_vec),
    }
}

// ---------------------------------------------------------------------------------------
// resolv.conf
// ---------------------------------------------------------------------------------------

/// A resolv.conf file. Its settings are host-wide, so the interface argument is ignored.
pub struct ResolvConf {
    pub path: PathBuf,
}

/// Serialises read-modify-write cycles on resolv.conf files: two concurrent updates in
/// one agent would otherwise lose one of them.
static RESOLV_CONF_LOCK: Mutex<()> = Mutex::new(());

impl ResolvConf {
    fn read(&self) -> Result<String, ProviderError> {
        std::fs::read_to_string(&self.path)
            .map_err(|e| ProviderError::from_io(&self.path.display().to_string(), e))
    }
}

impl DnsProvider for ResolvConf {
    fn get(&self, _interface: &str) -> Result<DnsConfig, ProviderError> {
        Ok(parse_resolv_conf(&self.read()?))
    }

    fn update(
        &self,
        _interface: &str,
        servers: Option<&[String]>,
        domains: Option<&[String]>,
    ) -> Result<bool, ProviderError> {
        validate(servers, domains)?;
        let _guard = RESOLV_CONF_LOCK
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let text = self.read()?;
        let current = parse_resolv_conf(&text);
        let want = merged(&current, servers, domains);
        if want == current {
            return Ok(false);
        }
        atomic_write(&self.path, &render_resolv_conf(&text, &current, &want))?;
        Ok(true)
    }
}

/// `nameserver` lines, and the last `search` or `domain` line (the resolver, too, lets the
/// last one win).
pub fn parse_resolv_conf(text: &str) -> DnsConfig {
    let mut cfg = DnsConfig::default();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => cfg.servers.extend(words.next().map(str::to_owned)),
            Some("search" | "domain") => cfg.search_domains = words.map(str::to_owned).collect(),
            _ => {}
        }
    }
    cfg
}

/// `text` with the lines of the settings that change replaced, in place of their first
/// occurrence (appended when there was none). Comments, options and unchanged settings
/// stay byte for byte.
fn render_resolv_conf(text: &str, current: &DnsConfig, want: &DnsConfig) -> String {
    let servers_change = want.servers != current.servers;
    let domains_change = want.search_domains != current.search_domains;
    let (mut servers_done, mut domains_done) = (!servers_change, !domains_change);
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.lines() {
        match line.split_whitespace().next() {
            Some("nameserver") if servers_change => {
                if !servers_done {
                    push_servers(&mut out, &want.servers);
                    servers_done = true;
                }
            }
            Some("search" | "domain") if domains_change => {
                if !domains_done {
                    push_domains(&mut out, &want.search_domains);
                    domains_done = true;
                }
            }
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    if !servers_done {
        push_servers(&mut out, &want.servers);
    }
    if !domains_done {
        push_domains(&mut out, &want.search_domains);
    }
    out
}

fn push_servers(out: &mut String, servers: &[String]) {
    for s in servers {
        out.push_str("nameserver ");
        out.push_str(s);
        out.push('\n');
    }
}

fn push_domains(out: &mut String, domains: &[String]) {
    if !domains.is_empty() {
        out.push_str("search ");
        out.push_str(&domains.join(" "));
        out.push('\n');
    }
}

/// Replaces the file's content so that readers see the old or the new file, never half of
/// one: a temp file in the same directory, synced, then renamed over the target.
///
/// A symlinked resolv.conf (resolvconf, NetworkManager) is followed and its target
/// replaced; renaming over the link itself would silently detach it from its manager.
fn atomic_write(path: &Path, content: &str) -> Result<(), ProviderError> {
    let name = path.display().to_string();
    let io = |e: std::io::Error| ProviderError::from_io(&name, e);
    let target = std::fs::canonicalize(path).map_err(io)?;
    let dir = target.parent().unwrap_or(Path::new("/"));
    let mut tmp = tempfile::Builder::new()
        .prefix(".osapi-resolv")
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(content.as_bytes()).map_err(io)?;
    // Keep mode and ownership: resolv.conf must stay world-readable for every resolver.
    if let Ok(meta) = std::fs::metadata(&target) {
        use std::os::unix::fs::MetadataExt;
        tmp.as_file()
            .set_permissions(meta.permissions())
            .map_err(io)?;
        // Only root can chown; an unprivileged agent writing its own file needs not.
        let _ = std::os::unix::fs::fchown(tmp.as_file(), Some(meta.uid()), Some(meta.gid()));
    }
    tmp.as_file().sync_all().map_err(io)?;
    tmp.persist(&target).map_err(|e| io(e.error))?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// systemd-resolved
// ---------------------------------------------------------------------------------------

/// systemd-resolved through `resolvectl`: per-interface runtime settings (they last until
/// the interface is reconfigured by its network manager).
pub struct Resolved;

/// A name the kernel could accept for an interface, which also keeps it from being read
/// as a `resolvectl` option.
fn check_interface(interface: &str) -> Result<(), ProviderError> {
    let ok = !interface.is_empty()
        && interface.len() < 16
        && !interface.starts_with('-')
        && !interface.contains(['/', '\0'])
        && !interface.chars().any(char::is_whitespace)
        && interface != "."
        && interface != "..";
    if !ok {
        return Err(ProviderError::InvalidInput(format!(
            "{interface:?} is not an interface name"
        )));
    }
    if !Path::new("/sys/class/net").join(interface).exists() {
        return Err(ProviderError::NotFound(format!("interface {interface}")));
    }
    Ok(())
}

/// Runs `resolvectl` and returns its stdout; failures classified from its message.
fn resolvectl(interface: &str, args: &[&str]) -> Result<String, ProviderError> {
    let out = Command::new("resolvectl")
        .args(args)
        .env("SYSTEMD_COLORS", "0")
        .output()
        .map_err(|e| ProviderError::from_io("cannot run resolvectl", e))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    Err(classify_resolvectl_error(
        interface,
        String::from_utf8_lossy(&out.stderr).trim(),
    ))
}

/// Turns a failed `resolvectl`'s stderr into the matching error kind.
fn classify_resolvectl_error(interface: &str, msg: &str) -> ProviderError {
    if msg.contains("No such device") || msg.contains("Unknown interface") {
        ProviderError::NotFound(format!("interface {interface}"))
    } else if msg.contains("Access denied")
        || msg.contains("Permission denied")
        || msg.contains("authentication required")
    {
        ProviderError::PermissionDenied(format!(
            "resolvectl: {msg} (changing DNS needs root or polkit rights on org.freedesktop.resolve1)"
        ))
    } else {
        ProviderError::Failed(format!("resolvectl: {msg}"))
    }
}

/// What `resolvectl status <iface>` shows: servers, and domains split into search domains
/// and routing-only ones (`~example.com`, `~.`), which resolve but are not searched.
#[derive(Debug, Default, PartialEq)]
struct LinkStatus {
    config: DnsConfig,
    routing_domains: Vec<String>,
}

fn parse_link_status(text: &str) -> LinkStatus {
    #[derive(Clone, Copy)]
    enum Field {
        Servers,
        Domains,
        Other,
    }
    let mut st = LinkStatus::default();
    let mut field = Field::Other;
    for line in text.lines() {
        let trimmed = line.trim();
        // The output is a table of right-aligned "Key: value" rows; long lists wrap onto
        // indented rows without a key. IPv6 addresses hold colons too, so a key is only a
        // capitalised run of letters and spaces before the first colon.
        let is_key = |k: &str| {
            k.starts_with(|c: char| c.is_ascii_uppercase())
                && k.chars().all(|c| c.is_ascii_alphabetic() || c == ' ')
        };
        let rest = match trimmed.split_once(':') {
            Some((k, rest)) if is_key(k) => {
                field = match k {
                    "DNS Servers" => Field::Servers,
                    "DNS Domain" => Field::Domains,
                    _ => Field::Other,
                };
                rest
            }
            // A blank line or a "Link 2 (eth0)" header ends any list.
            _ if trimmed.is_empty() || !line.starts_with(char::is_whitespace) => {
                field = Field::Other;
                continue;
            }
            _ => trimmed,
        };
        let words = rest.split_whitespace().map(str::to_owned);
        match field {
            Field::Servers => st.config.servers.extend(words),
            Field::Domains => {
                for d in words {
                    if d.starts_with('~') {
                        st.routing_domains.push(d);
                    } else {
                        st.config.search_domains.push(d);
                    }
                }
            }
            Field::Other => {}
        }
    }
    st
}

/// The servers and search domains in `resolvectl status <iface>` output.
pub fn parse_resolvectl(text: &str) -> DnsConfig {
    parse_link_status(text).config
}

impl Resolved {
    fn status(&self, interface: &str) -> Result<LinkStatus, ProviderError> {
        check_interface(interface)?;
        Ok(parse_link_status(&resolvectl(
            interface,
            &["status", "--", interface],
        )?))
    }
}

impl DnsProvider for Resolved {
    fn get(&self, interface: &str) -> Result<DnsConfig, ProviderError> {
        Ok(self.status(interface)?.config)
    }

    fn update(
        &self,
        interface: &str,
        servers: Option<&[String]>,
        domains: Option<&[String]>,
    ) -> Result<bool, ProviderError> {
        validate(servers, domains)?;
        let current = self.status(interface)?;
        let want = merged(&current.config, servers, domains);
        if want == current.config {
            return Ok(false);
        }
        if want.servers != current.config.servers {
            resolvectl(interface, &set_args("dns", interface, &want.servers))?;
        }
        if want.search_domains != current.config.search_domains {
            // `resolvectl domain` replaces routing domains too: carry them over.
            let all: Vec<String> = want
                .search_domains
                .iter()
                .chain(&current.routing_domains)
                .cloned()
                .collect();
            resolvectl(interface, &set_args("domain", interface, &all))?;
        }
        Ok(true)
    }
}

/// `resolvectl <verb> <iface> <values...>`; a single empty string clears the list (no
/// values at all would only print it).
fn set_args<'a>(verb: &'a str, interface: &'a str, values: &'a [String]) -> Vec<&'a str> {
    let mut args = vec![verb, interface];
    if values.is_empty() {
        args.push("");
    } else {
        args.extend(values.iter().map(String::as_str));
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn parses_resolv_conf() {
        let c = parse_resolv_conf(
            "# c\n; c2\nnameserver 1.1.1.1\nnameserver ::1\ndomain old.test\n\
             search a.test b.test\noptions ndots:2\n",
        );
        assert_eq!(c.servers, s(&["1.1.1.1", "::1"]));
        assert_eq!(c.search_domains, s(&["a.test", "b.test"]));
        assert_eq!(parse_resolv_conf(""), DnsConfig::default());
    }

    #[test]
    fn update_round_trips_keeps_comments_and_reports_changed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        let original = "# keep me\nnameserver 10.0.0.1\ndomain corp.test\noptions edns0\n";
        std::fs::write(&path, original).unwrap();
        let p = ResolvConf { path: path.clone() };
        let servers = s(&["192.0.2.1", "2001:db8::1"]);

        assert!(p.update("eth0", Some(&servers), None).unwrap());
        // Only the servers changed: the domain line stays as it was.
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# keep me\nnameserver 192.0.2.1\nnameserver 2001:db8::1\ndomain corp.test\noptions edns0\n"
        );
        // Same again, and nothing given at all: no change, file untouched.
        assert!(!p.update("eth0", Some(&servers), None).unwrap());
        assert!(!p.update("eth0", None, None).unwrap());

        assert!(p.update("eth0", None, Some(&s(&["x.test"]))).unwrap());
        let c = p.get("any-interface").unwrap();
        assert_eq!(c.servers, servers);
        assert_eq!(c.search_domains, s(&["x.test"]));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("# keep me\n") && text.contains("options edns0\n"),
            "{text}"
        );

        // Clearing both lists leaves only the rest.
        assert!(p.update("eth0", Some(&[]), Some(&[])).unwrap());
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "# keep me\noptions edns0\n"
        );
        // And setting them on a file without any appends them.
        assert!(p
            .update("eth0", Some(&s(&["10.0.0.9"])), Some(&s(&["a.test"])))
            .unwrap());
        assert_eq!(
            p.get("eth0").unwrap(),
            DnsConfig {
                servers: s(&["10.0.0.9"]),
                search_domains: s(&["a.test"])
            }
        );
        // No temp files left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn update_keeps_mode_and_follows_symlinks() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.conf");
        let link = dir.path().join("resolv.conf");
        std::fs::write(&real, "nameserver 10.0.0.1\n").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let p = ResolvConf { path: link.clone() };
        assert!(p.update("", Some(&s(&["10.0.0.2"])), None).unwrap());
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(
            std::fs::read_to_string(&real).unwrap(),
            "nameserver 10.0.0.2\n"
        );
        let mode = std::fs::metadata(&real).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    #[test]
    fn rejects_values_that_would_corrupt_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("resolv.conf");
        std::fs::write(&path, "nameserver 10.0.0.1\n").unwrap();
        let p = ResolvConf { path: path.clone() };
        for (servers, domains) in [
            (Some(s(&["10.0.0.1\nnameserver 6.6.6.6"])), None),
            (Some(s(&["not-an-ip"])), None),
            (None, Some(s(&["a.test\noptions x"]))),
            (None, Some(s(&["a b"]))),
            (None, Some(s(&["-x"]))),
            (None, Some(s(&[""]))),
        ] {
            let err = p
                .update("eth0", servers.as_deref(), domains.as_deref())
                .unwrap_err();
            assert!(matches!(err, ProviderError::InvalidInput(_)), "{err}");
        }
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "nameserver 10.0.0.1\n"
        );
    }

    #[test]
    fn missing_file_is_a_clear_error() {
        let p = ResolvConf {
            path: "/nonexistent/osapi/resolv.conf".into(),
        };
        let err = p.get("eth0").unwrap_err();
        assert!(matches!(err, ProviderError::NotFound(_)), "{err}");
        assert!(err.to_string().contains("/nonexistent/osapi/resolv.conf"));
        assert!(p.update("eth0", Some(&s(&["10.0.0.1"])), None).is_err());
    }

    #[test]
    fn parses_resolvectl_status() {
        // systemd 250+: lists on one line, routing-only domains among the search domains.
        let text = "Link 2 (eth0)\n\
                    \x20   Current Scopes: DNS\n\
                    \x20        Protocols: +DefaultRoute -LLMNR -mDNS -DNSOverTLS DNSSEC=no/unsupported\n\
                    Current DNS Server: 10.0.0.2\n\
                    \x20      DNS Servers: 10.0.0.2 fe80::1%eth0 10.0.0.3#dns.test\n\
                    \x20       DNS Domain: corp.test ~. ~lab.test\n\
                    \x20    Default Route: yes\n";
        let st = parse_link_status(text);
        assert_eq!(
            st.config.servers,
            s(&["10.0.0.2", "fe80::1%eth0", "10.0.0.3#dns.test"])
        );
        assert_eq!(st.config.search_domains, s(&["corp.test"]));
        assert_eq!(st.routing_domains, s(&["~.", "~lab.test"]));

        // Older systemd: one server per row; a wrapped list continues on indented rows.
        let text = "Link 3 (ens3)\n      Current Scopes: DNS\n         DNS Servers: 10.0.0.2\n                      2001:db8::53\n          DNS Domain: a.test\n                      b.test\n\nLink 4 (x)\n";
        assert_eq!(
            parse_resolvectl(text),
            DnsConfig {
                servers: s(&["10.0.0.2", "2001:db8::53"]),
                search_domains: s(&["a.test", "b.test"])
            }
        );
        // An interface without DNS settings.
        assert_eq!(
            parse_resolvectl("Link 1 (lo)\n    Current Scopes: none\n"),
            DnsConfig::default()
        );
    }

    #[test]
    fn classifies_resolvectl_errors() {
        let e =
            classify_resolvectl_error("foo", "Failed to resolve interface \"foo\": No such device");
        assert!(matches!(e, ProviderError::NotFound(_)), "{e}");
        let e = classify_resolvectl_error("eth0", "Failed to set DNS configuration: Access denied");
        assert!(matches!(e, ProviderError::PermissionDenied(_)), "{e}");
        let e = classify_resolvectl_error("eth0", "Failed to connect to bus");
        assert!(matches!(e, ProviderError::Failed(_)), "{e}");
    }

    #[test]
    fn resolved_checks_the_interface_first() {
        // Neither case runs resolvectl: the name is refused or absent from /sys.
        let e = Resolved.get("--help").unwrap_err();
        assert!(matches!(e, ProviderError::InvalidInput(_)), "{e}");
        let e = Resolved.get("osapi-nope0").unwrap_err();
        assert!(matches!(e, ProviderError::NotFound(_)), "{e}");
        assert_eq!(
            set_args("dns", "eth0", &[]),
            ["dns", "eth0", ""],
            "an empty list clears"
        );
    }
}
