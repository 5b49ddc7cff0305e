//! systemd services through `systemctl`, and the unit files osapi manages
//! (`/etc/systemd/system/osapi-<name>.service`, 0644).
//!
//! Whether systemd runs is read from the system root (`/run/systemd/system`, as
//! `sd_booted` does); where it does not, or in a container, every operation answers
//! `skipped`. Unit-file operations (`is-enabled`, `enable`, `disable`, `list-unit-files`)
//! act on the root's files, through `systemctl --root=<root>` when the root is not `/`;
//! the others talk to the running manager.

use std::path::PathBuf;

use serde::Deserialize;

use super::managed::{ensure_file, read_optional, remove_file};
use super::system::LinuxSystem;
use super::ProviderError;
pub use crate::wire::ops::service::ServiceInfo;
use crate::wire::ops::service::{managed_unit, unit_name};

/// What an action asks of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Restart,
    Enable,
    Disable,
}

/// Reads and changes systemd services. Writes return whether anything changed.
pub trait ServiceProvider: Send + Sync {
    /// Every service unit systemd knows.
    fn list(&self) -> Result<Vec<ServiceInfo>, ProviderError>;
    /// One unit (`.service` added to a bare name).
    fn get(&self, name: &str) -> Result<ServiceInfo, ProviderError>;
    /// Writes the managed unit of `name` with `content` and reloads systemd. `create`
    /// refuses a managed unit with other content; an update refuses one not managed.
    fn put_unit(&self, name: &str, content: &[u8], create: bool) -> Result<bool, ProviderError>;
    /// Stops, disables and removes the managed unit of `name`; `false` when there is none.
    fn delete_unit(&self, name: &str) -> Result<bool, ProviderError>;
    /// Brings a unit to the state `action` asks for; `false` when it was there already
    /// (a restart always changes).
    fn act(&self, name: &str, action: Action) -> Result<bool, ProviderError>;
}

/// systemd of the system, through its runner.
pub type LinuxServices = LinuxSystem;

const UNIT_DIR: &str = "etc/systemd/system";

impl LinuxServices {
    /// `Unsupported` (skipped) in a container or where systemd is not running.
    fn managing(&self) -> Result<(), ProviderError> {
        if self.root.in_container() {
            return Err(ProviderError::Unsupported(
                "a container does not run systemd services".into(),
            ));
        }
        if !self.systemd("systemctl") {
            return Err(ProviderError::Unsupported(
                "systemd is not running on this host".into(),
            ));
        }
        Ok(())
    }

    /// A unit-file command: on the root's files (`--root`) unless the root is `/`.
    fn files_argv(&self, args: &[&str]) -> Vec<String> {
        let mut argv = vec!["systemctl".to_owned()];
        if !self.root.is_host() {
            let root = self.root.join("");
            argv.push(format!(
                "--root={}",
                root.to_string_lossy().trim_end_matches('/')
            ));
        }
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        argv
    }

    fn run_files(&self, args: &[&str]) -> Result<String, ProviderError> {
        let argv = self.files_argv(args);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        self.runner.check(&argv)
    }

    fn enabled(&self, unit: &str) -> Result<bool, ProviderError> {
        let argv = self.files_argv(&["is-enabled", unit]);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        // Non-zero for anything but enabled: the answer is in the output.
        Ok(self.runner.run(&argv)?.stdout.trim() == "enabled")
    }

    fn active(&self, unit: &str) -> Result<bool, ProviderError> {
        Ok(self
            .runner
            .run(&["systemctl", "is-active", unit])?
            .stdout
            .trim()
            == "active")
    }

    fn reload(&self) -> Result<(), ProviderError> {
        self.runner.check(&["systemctl", "daemon-reload"]).map(drop)
    }

    fn unit_file(&self, unit: &str) -> PathBuf {
        self.root.join(format!("{UNIT_DIR}/{unit}"))
    }
}

/// A row of `systemctl list-units --output=json`.
#[derive(Deserialize)]
struct UnitRow {
    unit: String,
    active: String,
    #[serde(default)]
    description: String,
}

/// A row of `systemctl list-unit-files --output=json`.
#[derive(Deserialize)]
struct UnitFileRow {
    unit_file: String,
    state: String,
}

fn json_rows<T: serde::de::DeserializeOwned>(
    text: &str,
    what: &str,
) -> Result<Vec<T>, ProviderError> {
    serde_json::from_str(text.trim())
        .map_err(|e| ProviderError::Failed(format!("unreadable {what} output: {e}")))
}

/// `Key=Value` lines of `systemctl show`.
fn property<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .filter(|v| !v.is_empty())
}

impl ServiceProvider for LinuxServices {
    fn list(&self) -> Result<Vec<ServiceInfo>, ProviderError> {
        self.managing()?;
        let units = self.runner.check(&[
            "systemctl",
            "list-units",
            "--type=service",
            "--all",
            "--output=json",
        ])?;
        let files = self.run_files(&["list-unit-files", "--type=service", "--output=json"])?;
        let enabled: Vec<String> = json_rows::<UnitFileRow>(&files, "list-unit-files")?
            .into_iter()
            .filter(|f| f.state == "enabled")
            .map(|f| f.unit_file)
            .collect();
        Ok(json_rows::<UnitRow>(&units, "list-units")?
            .into_iter()
            .map(|u| ServiceInfo {
                enabled: enabled.contains(&u.unit),
                name: u.unit,
                status: u.active,
                description: Some(u.description).filter(|d| !d.is_empty()),
                pid: None,
            })
            .collect())
    }

    fn get(&self, name: &str) -> Result<ServiceInfo, ProviderError> {
        self.managing()?;
        let unit = unit_name(name);
        let show = self.runner.check(&[
            "systemctl",
            "show",
            &unit,
            "--property=LoadState,ActiveState,Description,MainPID",
        ])?;
        if property(&show, "LoadState") == Some("not-found") {
            return Err(ProviderError::NotFound(format!("service {unit} not found")));
        }
        Ok(ServiceInfo {
            status: property(&show, "ActiveState")
                .unwrap_or("unknown")
                .to_owned(),
            enabled: self.enabled(&unit)?,
            description: property(&show, "Description").map(str::to_owned),
            pid: property(&show, "MainPID")
                .and_then(|p| p.parse().ok())
                .filter(|p| *p != 0),
            name: unit,
        })
    }

    fn put_unit(&self, name: &str, content: &[u8], create: bool) -> Result<bool, ProviderError> {
        self.managing()?;
        let unit = managed_unit(name);
        let path = self.unit_file(&unit);
        match (read_optional(&path)?, create) {
            (None, false) => {
                return Err(ProviderError::NotFound(format!(
                    "service unit {unit} is not managed by osapi"
                )))
            }
            (Some(current), true) if current != content => {
                return Err(ProviderError::InvalidInput(format!(
                    "service unit {unit} already exists with other content: update it instead"
                )))
            }
            _ => {}
        }
        let changed = ensure_file(&path, content, 0o644)?;
        if changed {
            self.reload()?;
        }
        Ok(changed)
    }

    fn delete_unit(&self, name: &str) -> Result<bool, ProviderError> {
        self.managing()?;
        let unit = managed_unit(name);
        let path = self.unit_file(&unit);
        if !path.exists() {
            return Ok(false);
        }
        // Best effort: a unit that never ran or was never enabled is no reason to keep it.
        for argv in [
            vec!["systemctl".to_owned(), "stop".to_owned(), unit.clone()],
            self.files_argv(&["disable", &unit]),
        ] {
            let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
            if let Err(e) = self.runner.check(&argv) {
                tracing::warn!(error = %e, unit, "removing the unit anyway");
            }
        }
        remove_file(&path)?;
        self.reload()?;
        Ok(true)
    }

    fn act(&self, name: &str, action: Action) -> Result<bool, ProviderError> {
        self.managing()?;
        let unit = unit_name(name);
        let (already, verb) = match action {
            Action::Start => (self.active(&unit)?, "start"),
            Action::Stop => (!self.active(&unit)?, "stop"),
            Action::Restart => (false, "restart"),
            Action::Enable => (self.enabled(&unit)?, "enable"),
            Action::Disable => (!self.enabled(&unit)?, "disable"),
        };
        if already {
            return Ok(false);
        }
        match action {
            Action::Enable | Action::Disable => self.run_files(&[verb, &unit])?,
            _ => self.runner.check(&["systemctl", verb, &unit])?,
        };
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::runner::{RecordingRunner, ToolOutput};

    #[test]
    fn skipped_without_systemd_and_parsed_with_it() {
        let root = tempfile::tempdir().unwrap();
        let runner = RecordingRunner::new();
        let p = LinuxServices {
            root: root.path().into(),
            runner: runner.clone(),
        };
        let skipped = p.act("nginx", Action::Start).unwrap_err();
        assert!(
            matches!(skipped, ProviderError::Unsupported(_)),
            "{skipped}"
        );
        std::fs::create_dir_all(root.path().join("run/systemd/system")).unwrap();
        let show = "LoadState=loaded\nActiveState=active\nDescription=A web server\nMainPID=42\n";
        runner.answer(
            "systemctl",
            ToolOutput {
                stdout: show.into(),
                ..Default::default()
            },
        );
        let info = p.get("nginx").unwrap();
        assert_eq!(
            (info.name.as_str(), info.status.as_str(), info.pid),
            ("nginx.service", "active", Some(42))
        );
        assert_eq!(info.description.as_deref(), Some("A web server"));
        assert!(!info.enabled);
        let rooted = format!("--root={}", root.path().display());
        assert_eq!(
            runner.calls()[1],
            ["systemctl", &rooted, "is-enabled", "nginx.service"]
        );
    }
}
