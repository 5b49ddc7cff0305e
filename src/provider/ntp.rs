//! Time sources through chrony: osapi manages one drop-in,
//! `/etc/chrony/sources.d/osapi-ntp.sources` (`server <s> iburst` per line), reloaded with
//! `chronyc reload sources`; the sync state comes from `chronyc tracking`.

use std::path::PathBuf;

use super::system::LinuxSystem;
use super::ProviderError;
pub use crate::wire::ops::ntp::NtpStatus;

/// Reads the sync state and changes the managed time sources.
pub trait NtpProvider: Send + Sync {
    fn status(&self) -> Result<NtpStatus, ProviderError>;
    /// Writes the managed sources: `create` refuses other servers already managed; an
    /// update refuses when none are. Returns whether anything changed.
    fn set_servers(&self, servers: &[String], create: bool) -> Result<bool, ProviderError>;
    /// Removes the managed sources; `false` when there were none.
    fn delete(&self) -> Result<bool, ProviderError>;
}

/// chrony under its root, driven through its runner.
pub type LinuxNtp = LinuxSystem;

const SOURCES: &str = "etc/chrony/sources.d/osapi-ntp.sources";

impl LinuxSystem {
    fn sources_file(&self) -> PathBuf {
        self.root.join(SOURCES)
    }

    /// The managed servers, if any.
    fn managed_servers(&self) -> Option<Vec<String>> {
        let text = std::fs::read_to_string(self.sources_file()).ok()?;
        Some(
            text.lines()
                .filter_map(|l| l.strip_prefix("server "))
                .filter_map(|rest| rest.split_whitespace().next())
                .map(str::to_owned)
                .collect(),
        )
    }

    /// chrony runs on the host's clock, which a container does not own.
    fn ntp_applies(&self) -> Result<(), ProviderError> {
        if self.root.in_container() {
            return Err(ProviderError::Unsupported(
                "time sync of a container is its host's".into(),
            ));
        }
        Ok(())
    }

    /// Tells chronyd to reread its sources. Best effort: the file is the state, and
    /// chronyd reads it at its next start.
    fn reload_sources(&self) {
        if !self.runner.has("chronyc") {
            return;
        }
        if let Err(e) = self.runner.check(&["chronyc", "reload", "sources"]) {
            tracing::warn!(error = %e, "NTP sources written but chronyd not reloaded");
        }
    }
}

impl NtpProvider for LinuxSystem {
    fn status(&self) -> Result<NtpStatus, ProviderError> {
        self.ntp_applies()?;
        if !self.runner.has("chronyc") {
            return Ok(NtpStatus {
                servers: self.managed_servers().unwrap_or_default(),
                ..Default::default()
            });
        }
        let tracking = self.runner.check(&["chronyc", "tracking"])?;
        let sources = self.runner.check(&["chronyc", "-c", "sources"])?;
        let mut status = parse_tracking(&tracking);
        status.servers = sources
            .lines()
            .filter_map(|l| l.split(',').nth(2))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        Ok(status)
    }

    fn set_servers(&self, servers: &[String], create: bool) -> Result<bool, ProviderError> {
        self.ntp_applies()?;
        match (self.managed_servers(), create) {
            (Some(current), _) if current == servers => return Ok(false),
            (Some(_), true) => {
                return Err(ProviderError::InvalidInput(
                    "NTP servers are already managed: update them instead".into(),
                ))
            }
            (None, false) => {
                return Err(ProviderError::NotFound(
                    "NTP servers are not managed by osapi yet: create them first".into(),
                ))
            }
            _ => {}
        }
        let file = self.sources_file();
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| ProviderError::from_io(&dir.display().to_string(), e))?;
        }
        let text: String = servers
            .iter()
            .map(|s| format!("server {s} iburst\n"))
            .collect();
        super::host::write_atomic(&file, text.as_bytes())?;
        self.reload_sources();
        Ok(true)
    }

    fn delete(&self) -> Result<bool, ProviderError> {
        self.ntp_applies()?;
        let file = self.sources_file();
        match std::fs::remove_file(&file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(ProviderError::from_io(&file.display().to_string(), e)),
        }
        self.reload_sources();
        Ok(true)
    }
}

/// The fields of `chronyc tracking` the original reports.
fn parse_tracking(text: &str) -> NtpStatus {
    let field = |name: &str| {
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim().to_owned())
        })
    };
    let offset = field("System time").and_then(|v| {
        let seconds = v.split_whitespace().next()?;
        let sign = if v.contains("slow") { '-' } else { '+' };
        Some(format!("{sign}{seconds}s"))
    });
    NtpStatus {
        synchronized: field("Leap status").map(|v| v == "Normal"),
        stratum: field("Stratum").and_then(|v| v.parse().ok()),
        offset,
        current_source: field("Reference ID").and_then(|v| {
            let (_, name) = v.split_once('(')?;
            Some(name.trim_end_matches(')').to_owned())
        }),
        servers: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::runner::{RecordingRunner, ToolOutput};

    const TRACKING: &str = "Reference ID    : A29FC801 (time.example.net)\n\
        Stratum         : 3\n\
        System time     : 0.000012345 seconds slow of NTP time\n\
        Leap status     : Normal\n";

    #[test]
    fn tracking_fields() {
        let s = parse_tracking(TRACKING);
        assert_eq!(s.synchronized, Some(true));
        assert_eq!(s.stratum, Some(3));
        assert_eq!(s.offset.as_deref(), Some("-0.000012345s"));
        assert_eq!(s.current_source.as_deref(), Some("time.example.net"));
    }

    #[test]
    fn servers_round_trip_idempotently() {
        let root = tempfile::tempdir().unwrap();
        let runner = RecordingRunner::new();
        let ntp = LinuxNtp {
            root: root.path().into(),
            runner: runner.clone(),
        };
        let servers = vec!["0.pool.example".to_owned(), "192.0.2.123".to_owned()];
        assert!(
            ntp.set_servers(&servers, false).is_err(),
            "update needs managed servers"
        );
        assert!(ntp.set_servers(&servers, true).unwrap());
        assert!(!ntp.set_servers(&servers, true).unwrap());
        let text = std::fs::read_to_string(root.path().join(SOURCES)).unwrap();
        assert_eq!(
            text,
            "server 0.pool.example iburst\nserver 192.0.2.123 iburst\n"
        );
        runner.answer(
            "chronyc",
            ToolOutput {
                stdout: TRACKING.into(),
                ..Default::default()
            },
        );
        assert_eq!(ntp.status().unwrap().stratum, Some(3));
        assert!(ntp.delete().unwrap());
        assert!(!ntp.delete().unwrap());
        let calls: Vec<String> = runner.calls().iter().map(|c| c.join(" ")).collect();
        assert_eq!(
            calls,
            [
                "chronyc reload sources",
                "chronyc tracking",
                "chronyc -c sources",
                "chronyc reload sources"
            ]
        );
    }
}
