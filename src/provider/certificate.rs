//! Trusted CA certificates: osapi's own as `/usr/local/share/ca-certificates/osapi-{name}.crt`
//! (the prefix marks what osapi manages; nothing else is changed), the distribution's under
//! `/usr/share/ca-certificates`, made trusted with `update-ca-certificates`. On a root other
//! than `/` the tool is given that root's directories, so it acts on that tree alone.

use std::path::{Path, PathBuf};

use super::system::LinuxSystem;
use super::ProviderError;
pub use crate::wire::ops::certificate::{CaInfo, CaSource};

/// Reads and changes the trusted CA certificates. Writes return whether anything changed.
pub trait CertificateProvider: Send + Sync {
    /// osapi's certificates by name, then the system's by path.
    fn list(&self) -> Result<Vec<CaInfo>, ProviderError>;
    /// Writes `pem` (already checked to be a certificate) as `name` and refreshes the
    /// trust store; `false` when that is its content already. `create` refuses a name
    /// with other content; an update refuses a name osapi does not manage.
    fn install(&self, name: &str, pem: &[u8], create: bool) -> Result<bool, ProviderError>;
    /// Removes `name` and refreshes the trust store; `false` when there is none.
    fn remove(&self, name: &str) -> Result<bool, ProviderError>;
}

/// CA certificates under the system's root, refreshed through its runner.
pub type LinuxCertificates = LinuxSystem;

const LOCAL: &str = "usr/local/share/ca-certificates";
const SYSTEM: &str = "usr/share/ca-certificates";
const PREFIX: &str = "osapi-";

impl LinuxCertificates {
    fn cert_file(&self, name: &str) -> PathBuf {
        self.root.join(format!("{LOCAL}/{PREFIX}{name}.crt"))
    }

    /// `update-ca-certificates` (`--fresh` rebuilds every link, dropping a removed
    /// certificate's), with the root's directories when it is not `/`.
    fn refresh(&self, fresh: bool) -> Result<(), ProviderError> {
        let dirs = [
            ("--certsconf", "etc/ca-certificates.conf"),
            ("--certsdir", SYSTEM),
            ("--localcertsdir", LOCAL),
            ("--etccertsdir", "etc/ssl/certs"),
            ("--hooksdir", "etc/ca-certificates/update.d"),
        ]
        .map(|(flag, dir)| (flag, self.root.join(dir).to_string_lossy().into_owned()));
        let mut argv = vec!["update-ca-certificates"];
        if fresh {
            argv.push("--fresh");
        }
        if !self.root.is_host() {
            for (flag, dir) in &dirs {
                argv.extend([*flag, dir.as_str()]);
            }
        }
        self.runner.check(&argv).map(drop)
    }
}

/// Every `*.crt` below `dir`, as paths relative to it without the suffix, sorted.
fn crt_names(dir: &Path, under: &Path, out: &mut Vec<String>) -> Result<(), ProviderError> {
    let listing = match std::fs::read_dir(dir) {
        Ok(l) => l,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(ProviderError::from_io(&dir.display().to_string(), e)),
    };
    for entry in listing.filter_map(Result::ok) {
        let path = entry.path();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            crt_names(&path, under, out)?;
        } else if let Some(rel) = path
            .strip_prefix(under)
            .ok()
            .and_then(|r| r.to_str()?.strip_suffix(".crt"))
        {
            out.push(rel.to_owned());
        }
    }
    out.sort();
    Ok(())
}

fn info(name: String, source: CaSource) -> CaInfo {
    CaInfo {
        name,
        source,
        object: None,
    }
}

impl CertificateProvider for LinuxCertificates {
    fn list(&self) -> Result<Vec<CaInfo>, ProviderError> {
        let mut local = Vec::new();
        let dir = self.root.join(LOCAL);
        crt_names(&dir, &dir, &mut local)?;
        let custom = local
            .into_iter()
            .filter_map(|n| n.strip_prefix(PREFIX).map(str::to_owned))
            .map(|n| info(n, CaSource::Custom));
        let mut system = Vec::new();
        let dir = self.root.join(SYSTEM);
        crt_names(&dir, &dir, &mut system)?;
        let system = system.into_iter().map(|n| info(n, CaSource::System));
        Ok(custom.chain(system).collect())
    }

    fn install(&self, name: &str, pem: &[u8], create: bool) -> Result<bool, ProviderError> {
        let file = self.cert_file(name);
        match (std::fs::read(&file).ok(), create) {
            (Some(current), _) if current == pem => return Ok(false),
            (Some(_), true) => {
                return Err(ProviderError::InvalidInput(format!(
                    "certificate {name:?} exists with other content: update it instead"
                )))
            }
            (None, false) => {
                return Err(ProviderError::NotFound(format!(
                    "certificate {name:?} does not exist"
                )))
            }
            _ => {}
        }
        let dir = self.root.join(LOCAL);
        std::fs::create_dir_all(&dir)
            .map_err(|e| ProviderError::from_io(&dir.display().to_string(), e))?;
        super::host::write_atomic(&file, pem)?;
        self.refresh(false)?;
        Ok(true)
    }

    fn remove(&self, name: &str) -> Result<bool, ProviderError> {
        let file = self.cert_file(name);
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(ProviderError::from_io(&file.display().to_string(), e)),
        }
        self.refresh(true)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::runner::RecordingRunner;

    #[test]
    fn managed_files_only_and_the_tool_only_on_a_change() {
        let root = tempfile::tempdir().unwrap();
        let sys = root.path().join("usr/share/ca-certificates/mozilla");
        std::fs::create_dir_all(&sys).unwrap();
        std::fs::write(sys.join("Some_Root.crt"), "x").unwrap();
        let local = root.path().join(LOCAL);
        std::fs::create_dir_all(&local).unwrap();
        std::fs::write(local.join("hand-made.crt"), "x").unwrap();
        let runner = RecordingRunner::new();
        let p = LinuxCertificates {
            root: root.path().into(),
            runner: runner.clone(),
        };
        assert!(p.install("corp", b"pem", false).is_err(), "update needs it");
        assert!(p.install("corp", b"pem", true).unwrap());
        assert!(!p.install("corp", b"pem", true).unwrap());
        assert!(p.install("corp", b"other", true).is_err());
        assert!(p.install("corp", b"other", false).unwrap());
        let names: Vec<(String, CaSource)> = p
            .list()
            .unwrap()
            .into_iter()
            .map(|c| (c.name, c.source))
            .collect();
        assert_eq!(
            names,
            [
                ("corp".into(), CaSource::Custom),
                ("mozilla/Some_Root".into(), CaSource::System)
            ]
        );
        assert!(p.remove("corp").unwrap());
        assert!(!p.remove("corp").unwrap());
        assert!(local.join("hand-made.crt").exists());
        let fresh: Vec<bool> = runner
            .calls()
            .iter()
            .map(|c| c.contains(&"--fresh".to_owned()))
            .collect();
        assert_eq!(fresh, [false, false, true]);
    }
}
