//! Managed kernel parameters: one drop-in `/etc/sysctl.d/osapi-<key>.conf` per key (the
//! `osapi-` prefix marks what osapi manages; nothing else is listed or removed), applied
//! with `sysctl -p <file>`; live values read from `/proc/sys`.

use std::path::PathBuf;

use super::system::LinuxSystem;
use super::ProviderError;
pub use crate::wire::ops::sysctl::SysctlEntry;

/// Reads and changes managed kernel parameters. Writes return whether anything changed.
pub trait SysctlProvider: Send + Sync {
    /// Every managed key with its live value (the persisted one where none is live).
    fn list(&self) -> Result<Vec<SysctlEntry>, ProviderError>;
    /// One managed key; an error naming it when it is not managed.
    fn get(&self, key: &str) -> Result<SysctlEntry, ProviderError>;
    /// Persists and applies `key = value`. `create` refuses a key already managed with
    /// another value; an update refuses one not managed.
    fn set(&self, key: &str, value: &str, create: bool) -> Result<bool, ProviderError>;
    /// Removes a managed key's drop-in and reloads; `false` when it was not managed.
    fn delete(&self, key: &str) -> Result<bool, ProviderError>;
}

/// Drop-ins under the system's root, applied through its runner.
pub type LinuxSysctl = LinuxSystem;

const DIR: &str = "etc/sysctl.d";
const PREFIX: &str = "osapi-";

impl LinuxSysctl {
    fn file(&self, key: &str) -> PathBuf {
        self.root.join(format!("{DIR}/{PREFIX}{key}.conf"))
    }

    /// The value persisted for `key`, if osapi manages it.
    fn persisted(&self, key: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.file(key)).ok()?;
        parse_line(&text).filter(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The running kernel's value (`/proc/sys/net/ipv4/ip_forward`), tabs folded.
    fn live(&self, key: &str) -> Option<String> {
        let path = format!("proc/sys/{}", key.replace('.', "/"));
        let raw = std::fs::read_to_string(self.root.join(path)).ok()?;
        Some(raw.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    fn entry(&self, key: &str, persisted: String) -> SysctlEntry {
        SysctlEntry {
            key: key.to_owned(),
            value: self.live(key).unwrap_or(persisted),
        }
    }

    /// Applies persisted settings. Best effort, as the original: the drop-in is the state
    /// (it applies at the next boot); a kernel that refuses it now is logged.
    fn apply(&self, argv: &[&str]) {
        if let Err(e) = self.runner.check(argv) {
            tracing::warn!(error = %e, "sysctl settings persisted but not applied now");
        }
    }
}

/// `key = value` from a drop-in's first setting line.
fn parse_line(text: &str) -> Option<(String, String)> {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with(['#', ';']))?;
    let (k, v) = line.split_once('=')?;
    Some((k.trim().to_owned(), v.trim().to_owned()))
}

fn not_managed(key: &str) -> ProviderError {
    ProviderError::NotFound(format!("sysctl key {key:?} is not managed by osapi"))
}

impl SysctlProvider for LinuxSysctl {
    fn list(&self) -> Result<Vec<SysctlEntry>, ProviderError> {
        let dir = self.root.join(DIR);
        let listing = match std::fs::read_dir(&dir) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ProviderError::from_io(&dir.display().to_string(), e)),
        };
        let mut keys: Vec<String> = listing
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|name| {
                let key = name.strip_prefix(PREFIX)?.strip_suffix(".conf")?;
                Some(key.to_owned())
            })
            .collect();
        keys.sort();
        Ok(keys
            .into_iter()
            .filter_map(|k| self.persisted(&k).map(|v| self.entry(&k, v)))
            .collect())
    }

    fn get(&self, key: &str) -> Result<SysctlEntry, ProviderError> {
        let persisted = self.persisted(key).ok_or_else(|| not_managed(key))?;
        Ok(self.entry(key, persisted))
    }

    fn set(&self, key: &str, value: &str, create: bool) -> Result<bool, ProviderError> {
        match (self.persisted(key), create) {
            (Some(current), _) if current == value => return Ok(false),
            (Some(current), true) => {
                return Err(ProviderError::InvalidInput(format!(
                "sysctl key {key:?} is already managed with value {current:?}: update it instead"
            )))
            }
            (None, false) => return Err(not_managed(key)),
            _ => {}
        }
        let file = self.file(key);
        let dir = self.root.join(DIR);
        std::fs::create_dir_all(&dir)
            .map_err(|e| ProviderError::from_io(&dir.display().to_string(), e))?;
        super::host::write_atomic(&file, format!("{key} = {value}\n").as_bytes())?;
        self.apply(&["sysctl", "-p", &file.to_string_lossy()]);
        Ok(true)
    }

    fn delete(&self, key: &str) -> Result<bool, ProviderError> {
        if self.persisted(key).is_none() {
            return Ok(false);
        }
        let file = self.file(key);
        std::fs::remove_file(&file)
            .map_err(|e| ProviderError::from_io(&file.display().to_string(), e))?;
        // Reloads every drop-in: the key falls back to what the others (or the default) say.
        self.apply(&["sysctl", "--system"]);
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::runner::RecordingRunner;
    use std::sync::Arc;

    fn rooted() -> (tempfile::TempDir, LinuxSysctl, Arc<RecordingRunner>) {
        let root = tempfile::tempdir().unwrap();
        let runner = RecordingRunner::new();
        let p = LinuxSysctl {
            root: root.path().into(),
            runner: runner.clone(),
        };
        (root, p, runner)
    }

    /// Writes `content` at `rel` under `root`, with its directories.
    fn put(root: &tempfile::TempDir, rel: &str, content: &str) {
        let path = root.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    #[test]
    fn set_get_list_delete_round_trip_idempotently() {
        let (root, p, runner) = rooted();
        put(&root, "proc/sys/vm/swappiness", "60\n");
        assert!(p.set("vm.swappiness", "10", true).unwrap());
        assert!(!p.set("vm.swappiness", "10", true).unwrap());
        let conf = root.path().join("etc/sysctl.d/osapi-vm.swappiness.conf");
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            "vm.swappiness = 10\n"
        );
        // The live value wins where the kernel has one; none here for the other key.
        assert_eq!(p.get("vm.swappiness").unwrap().value, "60");
        assert!(p.set("net.core.somaxconn", "1024", true).unwrap());
        let keys: Vec<String> = p.list().unwrap().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["net.core.somaxconn", "vm.swappiness"]);
        assert!(
            p.set("vm.swappiness", "5", true).is_err(),
            "create does not overwrite"
        );
        assert!(p.set("vm.swappiness", "5", false).unwrap());
        assert!(
            p.set("vm.dirty_ratio", "5", false).is_err(),
            "update needs a managed key"
        );
        assert!(p.delete("vm.swappiness").unwrap());
        assert!(!p.delete("vm.swappiness").unwrap());
        assert!(!conf.exists());
        let argv: Vec<String> = runner.calls().into_iter().map(|c| c.join(" ")).collect();
        let file = |k: &str| root.path().join(format!("etc/sysctl.d/osapi-{k}.conf"));
        assert_eq!(
            argv,
            [
                format!("sysctl -p {}", file("vm.swappiness").display()),
                format!("sysctl -p {}", file("net.core.somaxconn").display()),
                format!("sysctl -p {}", file("vm.swappiness").display()),
                "sysctl --system".to_owned(),
            ]
        );
    }

    #[test]
    fn files_without_the_prefix_are_not_listed() {
        let (root, p, _) = rooted();
        put(&root, "etc/sysctl.d/99-local.conf", "vm.swappiness = 1\n");
        assert!(p.list().unwrap().is_empty());
        assert!(p.get("vm.swappiness").is_err());
    }
}
