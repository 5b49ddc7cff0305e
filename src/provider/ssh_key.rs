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
        let dir = file.parent().unwrap_or(file);
        refuse_links(&[dir, file])?;
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
        refuse_links(&[dir, file])?;
        std::fs::create_dir_all(dir).map_err(io)?;
        refuse_links(&[dir])?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
        std::os::unix::fs::lchown(dir, Some(user.uid), Some(user.gid)).map_err(io)?;
        let mut text = lines.join("\n");
        text.push('\n');
        let owner = Some((user.uid, user.gid));
        super::host::write_atomic_as(file, text.as_bytes(), 0o600, owner)
    }
}

/// An error when any of `paths` is a symbolic link: the user owns its home, and a link
/// planted as `.ssh` would have osapi (root) write and chown where it points.
fn refuse_links(paths: &[&std::path::Path]) -> Result<(), ProviderError> {
    for path in paths {
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(ProviderError::PermissionDenied(format!(
                "{} is a symbolic link: not following it",
                path.display()
            )));
        }
    }
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::runner::RecordingRunner;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO4r8a6zHpx24NhR23/h/+BrGZG847D7EDPk1ybbjCf8 k";

    fn rooted() -> (tempfile::TempDir, LinuxAccounts) {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::create_dir_all(root.path().join("home/bob")).unwrap();
        let uid = nix::unistd::getuid().as_raw();
        let gid = nix::unistd::getgid().as_raw();
        let passwd = format!("bob:x:{uid}:{gid}::/home/bob:/bin/sh\n");
        std::fs::write(root.path().join("etc/passwd"), passwd).unwrap();
        let p = LinuxAccounts {
            root: root.path().into(),
            runner: RecordingRunner::new(),
        };
        (root, p)
    }

    #[test]
    fn keys_round_trip_with_other_lines_kept() {
        let (root, p) = rooted();
        assert!(p.list("bob").unwrap().is_empty());
        assert!(p.add("bob", KEY).unwrap());
        assert!(!p.add("bob", &format!("no-pty {KEY}")).unwrap(), "same key");
        let file = root.path().join("home/bob/.ssh/authorized_keys");
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(&file, format!("# mine\n{text}")).unwrap();
        let fp = p.list("bob").unwrap()[0].fingerprint.clone();
        assert!(p.remove("bob", &fp).unwrap());
        assert!(!p.remove("bob", &fp).unwrap());
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "# mine\n");
        assert!(matches!(p.list("eve"), Err(ProviderError::NotFound(_))));
    }

    #[test]
    fn a_planted_link_is_not_followed() {
        let (root, p) = rooted();
        let elsewhere = root.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, root.path().join("home/bob/.ssh")).unwrap();
        assert!(matches!(
            p.add("bob", KEY),
            Err(ProviderError::PermissionDenied(_))
        ));
        assert!(p.list("bob").is_err());
        assert!(!elsewhere.join("authorized_keys").exists());
    }
}
