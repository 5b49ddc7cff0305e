//! A user's authorized SSH keys: `<home>/.ssh/authorized_keys` under the system root (home
//! from the passwd database), the directory 0700 and the file 0600, both owned by the
//! user. Keys are named by fingerprint; lines that are not keys are kept as they are.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use super::accounts::{LinuxAccounts, PasswdEntry};
use super::ProviderError;
use crate::wire::ops::ssh_key::parse_authorized_key;
pub use crate::wire::ops::ssh_key::SshKeyInfo;

/// Reads and changes a user's authorized keys. Writes return whether anything changed.
pub trait SshKeyProvider: Send + Sync {
    /// The keys of `user`'s authorized_keys (none when there is no file); comments and
    /// malformed lines are skipped.
    fn list(&self, user: &str) -> Result<Vec<SshKeyInfo>, ProviderError>;
    /// Appends `line` (an authorized_keys line); `false` when a key with its fingerprint
    /// is there already.
    fn add(&self, user: &str, line: &str) -> Result<bool, ProviderError>;
    /// Drops the lines whose key has `fingerprint`; `false` when none has.
    fn remove(&self, user: &str, fingerprint: &str) -> Result<bool, ProviderError>;
}

impl LinuxAccounts {
    /// The user's passwd entry and the path of its authorized_keys under the root.
    fn keys_file(&self, user: &str) -> Result<(PasswdEntry, PathBuf), ProviderError> {
        let entry = self
            .passwd()?
            .into_iter()
            .find(|u| u.name == user)
            .ok_or_else(|| ProviderError::NotFound(format!("user {user:?} not found")))?;
        let file = self.root.join(&entry.home).join(".ssh/authorized_keys");
        Ok((entry, file))
    }

    /// The file's lines; none when there is no file.
    fn key_lines(&self, file: &std::path::Path) -> Result<Vec<String>, ProviderError> {
        match std::fs::read_to_string(file) {
            Ok(text) => Ok(text.lines().map(str::to_owned).collect()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(ProviderError::from_io(&file.display().to_string(), e)),
        }
    }

    /// Writes `lines` as the user's authorized_keys, its `.ssh` made 0700 and both owned
    /// by the user.
    fn write_keys(
        &self,
        user: &PasswdEntry,
        file: &std::path::Path,
        lines: &[String],
    ) -> Result<(), ProviderError> {
        let dir = file
            .parent()
            .ok_or_else(|| ProviderError::InvalidInput("no .ssh directory".into()))?;
        let io = |e| ProviderError::from_io(&dir.display().to_string(), e);
        std::fs::create_dir_all(dir).map_err(io)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        std::os::unix::fs::chown(dir, Some(user.uid), Some(user.gid)).map_err(io)?;
        let mut text = lines.join("\n");
        text.push('\n');
        let owner = Some((user.uid, user.gid));
        super::host::write_atomic_as(file, text.as_bytes(), 0o600, owner)
    }
}

/// The fingerprint of a line's key, if it holds one.
fn fingerprint_of(line: &str) -> Option<String> {
    parse_authorized_key(line).ok().map(|k| k.fingerprint)
}

impl SshKeyProvider for LinuxAccounts {
    fn list(&self, user: &str) -> Result<Vec<SshKeyInfo>, ProviderError> {
        let (_, file) = self.keys_file(user)?;
        Ok(self
            .key_lines(&file)?
            .iter()
            .filter_map(|l| parse_authorized_key(l).ok())
            .collect())
    }

    fn add(&self, user: &str, line: &str) -> Result<bool, ProviderError> {
        let key = parse_authorized_key(line).map_err(ProviderError::InvalidInput)?;
        let (entry, file) = self.keys_file(user)?;
        let mut lines = self.key_lines(&file)?;
        if lines
            .iter()
            .any(|l| fingerprint_of(l).as_ref() == Some(&key.fingerprint))
        {
            return Ok(false);
        }
        lines.push(line.trim().to_owned());
        self.write_keys(&entry, &file, &lines)?;
        Ok(true)
    }

    fn remove(&self, user: &str, fingerprint: &str) -> Result<bool, ProviderError> {
        let (entry, file) = self.keys_file(user)?;
        let lines = self.key_lines(&file)?;
        let kept: Vec<String> = lines
            .iter()
            .filter(|l| fingerprint_of(l).as_deref() != Some(fingerprint))
            .cloned()
            .collect();
        if kept.len() == lines.len() {
            return Ok(false);
        }
        self.write_keys(&entry, &file, &kept)?;
        Ok(true)
    }
}
