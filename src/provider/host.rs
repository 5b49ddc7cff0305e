//! Host settings: the static hostname, the time zone, and scheduled reboots and
//! shutdowns. Files are written under the system root; live changes go through the
//! system's tools via the [`Runner`].

use super::system::LinuxSystem;
use super::ProviderError;
use std::io::Write;
use std::path::Path;

/// What a scheduled power change is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerAction {
    Reboot,
    Shutdown,
}

impl PowerAction {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reboot => "reboot",
            Self::Shutdown => "shutdown",
        }
    }
}

/// Changes host-wide settings. Every write returns whether anything changed.
pub trait HostSettings: Send + Sync {
    /// Sets the static hostname.
    fn set_hostname(&self, name: &str) -> Result<bool, ProviderError>;
    /// Sets the system time zone (an IANA name).
    fn set_timezone(&self, zone: &str) -> Result<bool, ProviderError>;
    /// Schedules `action` in `delay_secs` (rounded up to whole minutes, at least one, as
    /// `shutdown` counts); replaces a pending one. Returns the delay scheduled, seconds.
    fn schedule_power(
        &self,
        action: PowerAction,
        delay_secs: u64,
        message: Option<&str>,
    ) -> Result<u64, ProviderError>;
}

/// The Linux host under its root, changed through its runner.
pub type LinuxHost = LinuxSystem;

impl LinuxHost {
    /// Settings of a container belong to its image and runtime, not to an agent in it.
    fn refuse_in_container(&self, what: &str) -> Result<(), ProviderError> {
        if self.root.in_container() {
            return Err(ProviderError::Unsupported(format!(
                "{what} of a container is set by its image and runtime"
            )));
        }
        Ok(())
    }

    /// Whether systemd manages the system (its tools then apply changes live).
    fn systemd(&self, tool: &str) -> bool {
        self.root.join("run/systemd/system").is_dir() && self.runner.has(tool)
    }
}

impl HostSettings for LinuxHost {
    fn set_hostname(&self, name: &str) -> Result<bool, ProviderError> {
        self.refuse_in_container("the hostname")?;
        let file = self.root.join("etc/hostname");
        if self.root.read_or_empty("etc/hostname").trim() == name {
            return Ok(false);
        }
        // The running name first: when the tool fails, nothing has changed.
        if self.systemd("hostnamectl") {
            self.runner.check(&["hostnamectl", "set-hostname", name])?;
        } else {
            self.runner.check(&["hostname", name])?;
        }
        // The static name (hostnamectl writes the same file; the state is the file).
        write_atomic(&file, format!("{name}\n").as_bytes())?;
        Ok(true)
    }

    fn set_timezone(&self, zone: &str) -> Result<bool, ProviderError> {
        self.refuse_in_container("the time zone")?;
        let rules = self.root.join("usr/share/zoneinfo").join(zone);
        let known = std::fs::read(&rules).is_ok_and(|b| b.starts_with(b"TZif"));
        if !known {
            return Err(ProviderError::InvalidInput(format!(
                "unknown time zone {zone:?}: no such zone in /usr/share/zoneinfo"
            )));
        }
        let now = jiff::Timestamp::now();
        let current = super::node::read_timezone(&self.root.join("/"), now).ok();
        if current.is_some_and(|tz| tz.name == zone) && self.linked_to(zone) {
            return Ok(false);
        }
        if self.systemd("timedatectl") {
            self.runner.check(&["timedatectl", "set-timezone", zone])?;
        }
        // Written here too (timedatectl writes the same): the state is the files.
        link_atomic(
            &self.root.join("etc/localtime"),
            &Path::new("/usr/share/zoneinfo").join(zone),
        )?;
        if self.root.join("etc/timezone").exists() {
            write_atomic(
                &self.root.join("etc/timezone"),
                format!("{zone}\n").as_bytes(),
            )?;
        }
        Ok(true)
    }

    fn schedule_power(
        &self,
        action: PowerAction,
        delay_secs: u64,
        message: Option<&str>,
    ) -> Result<u64, ProviderError> {
        self.refuse_in_container("power")?;
        let minutes = delay_secs.div_ceil(60).max(1);
        let flag = match action {
            PowerAction::Reboot => "-r",
            PowerAction::Shutdown => "-h",
        };
        let when = format!("+{minutes}");
        let mut argv = vec!["shutdown", flag, when.as_str()];
        argv.extend(message);
        self.runner.check(&argv)?;
        Ok(minutes * 60)
    }
}

impl LinuxHost {
    /// Whether `/etc/localtime` already links to `zone`'s rules.
    fn linked_to(&self, zone: &str) -> bool {
        std::fs::read_link(self.root.join("etc/localtime"))
            .is_ok_and(|t| t.to_string_lossy().ends_with(&format!("zoneinfo/{zone}")))
    }
}

/// Replaces `path` with `content` (mode 0644) in one rename: readers never see half.
pub(crate) fn write_atomic(path: &Path, content: &[u8]) -> Result<(), ProviderError> {
    write_atomic_mode(path, content, 0o644)
}

/// [`write_atomic`] with the file's `mode` set before it takes the path's place.
pub(crate) fn write_atomic_mode(
    path: &Path,
    content: &[u8],
    mode: u32,
) -> Result<(), ProviderError> {
    let what = path.display().to_string();
    let dir = path
        .parent()
        .ok_or_else(|| ProviderError::InvalidInput(format!("{what} has no directory")))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".osapi-")
        .tempfile_in(dir)
        .map_err(|e| ProviderError::from_io(&what, e))?;
    tmp.write_all(content)
        .map_err(|e| ProviderError::from_io(&what, e))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(mode))
        .map_err(|e| ProviderError::from_io(&what, e))?;
    tmp.persist(path)
        .map_err(|e| ProviderError::from_io(&what, e.error))?;
    Ok(())
}

/// Points the symlink `link` at `target`, replacing what was there in one rename.
fn link_atomic(link: &Path, target: &Path) -> Result<(), ProviderError> {
    let what = link.display().to_string();
    let staged = link.with_file_name(".osapi-localtime");
    let _ = std::fs::remove_file(&staged);
    std::os::unix::fs::symlink(target, &staged).map_err(|e| ProviderError::from_io(&what, e))?;
    std::fs::rename(&staged, link).map_err(|e| ProviderError::from_io(&what, e))
}
