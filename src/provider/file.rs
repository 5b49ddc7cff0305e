//! Deployed files under the system root: staged next to the target, given their mode and
//! owner, then renamed over it (atomic); owner and group names resolved to ids.
//!
//! Paths given to the provider are the host's absolute paths (`/etc/app.conf`); they are
//! resolved under the root, and errors name them as given.

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::system::SystemRoot;
use super::ProviderError;

/// A file operation failed; the message names the path as the caller gave it.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The temporary file could not be created in the target's directory.
    #[error("{}", ProviderError::classify(&.dir.display().to_string(), .source))]
    Stage {
        dir: PathBuf,
        source: std::io::Error,
    },
    /// An existing file could not be read.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Setting the mode or renaming into place failed.
    #[error("writing {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    /// `chown` failed (usually: the agent is not root).
    #[error("cannot set owner/group of {}: {source}", .path.display())]
    Chown {
        path: PathBuf,
        source: nix::errno::Errno,
    },
}

/// Mode (permission bits only), owner and group of an existing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileMeta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// A temporary file next to its target, being written. Dropping it removes it.
#[derive(Debug)]
pub struct Staged {
    file: std::fs::File,
    path: tempfile::TempPath,
}

impl Staged {
    /// Appends `bytes`.
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all(bytes)
    }

    /// Flushes the content to disk, so the rename never exposes a partly written file.
    pub fn sync(&mut self) -> std::io::Result<()> {
        self.file.sync_all()
    }
}

/// The mode and ownership a deployed file gets (`None`: leave the owner or group as is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wanted {
    pub mode: u32,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// Reads and writes deployed files. Every call blocks: run it off the async workers.
pub trait FileProvider: Send + Sync {
    /// Whether `dir` exists and is a directory.
    fn is_dir(&self, dir: &Path) -> bool;
    /// The uid of the user `name`, `None` when there is none.
    fn user_id(&self, name: &str) -> Option<u32>;
    /// The gid of the group `name`, `None` when there is none.
    fn group_id(&self, name: &str) -> Option<u32>;
    /// A new temporary file in `target`'s directory (so the final rename is atomic).
    fn stage(&self, target: &Path) -> Result<Staged, FileError>;
    /// `path`'s mode and ownership, `None` when it does not exist or cannot be read.
    fn metadata(&self, path: &Path) -> Option<FileMeta>;
    /// SHA-256 (hex) of `path`'s content, `None` when it does not exist.
    fn sha256(&self, path: &Path) -> Result<Option<String>, FileError>;
    /// Gives `staged` the mode and the owner and group asked for, then renames it to `path`.
    fn install(&self, staged: Staged, path: &Path, want: Wanted) -> Result<(), FileError>;
    /// Removes the file at `path`; `false` when there was none.
    fn remove(&self, path: &Path) -> Result<bool, FileError>;
}

/// Files of the Linux host whose filesystem is under `root` (`/` in production). Under
/// `/`, names are resolved through NSS (so LDAP or sssd users work); under another root,
/// from its `etc/passwd` and `etc/group`.
#[derive(Default)]
pub struct LinuxFiles {
    pub root: SystemRoot,
}

impl LinuxFiles {
    /// The id of `name` in the root's `etc/passwd` or `etc/group`.
    fn id_in(&self, db: &str, name: &str) -> Option<u32> {
        let text = std::fs::read_to_string(self.root.join(format!("etc/{db}"))).ok()?;
        id_from_db(&text, name)
    }
}

/// The third field (uid or gid) of `name`'s line in passwd(5) or group(5) text.
fn id_from_db(text: &str, name: &str) -> Option<u32> {
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        (fields.next()? == name).then_some(())?;
        fields.nth(1)?.parse().ok()
    })
}

impl FileProvider for LinuxFiles {
    fn is_dir(&self, dir: &Path) -> bool {
        self.root.join(dir).is_dir()
    }

    fn user_id(&self, name: &str) -> Option<u32> {
        if !self.root.is_host() {
            return self.id_in("passwd", name);
        }
        // A lookup error (NSS unreachable) reads as unknown: the caller names the owner.
        let user = nix::unistd::User::from_name(name).ok().flatten()?;
        Some(user.uid.as_raw())
    }

    fn group_id(&self, name: &str) -> Option<u32> {
        if !self.root.is_host() {
            return self.id_in("group", name);
        }
        let group = nix::unistd::Group::from_name(name).ok().flatten()?;
        Some(group.gid.as_raw())
    }

    fn stage(&self, target: &Path) -> Result<Staged, FileError> {
        let dir = target.parent().unwrap_or(Path::new("/"));
        let tmp = tempfile::Builder::new()
            .prefix(".osapi-deploy-")
            .tempfile_in(self.root.join(dir))
            .map_err(|source| FileError::Stage {
                dir: dir.to_owned(),
                source,
            })?;
        let (file, path) = tmp.into_parts();
        Ok(Staged { file, path })
    }

    fn metadata(&self, path: &Path) -> Option<FileMeta> {
        let m = std::fs::metadata(self.root.join(path)).ok()?;
        Some(FileMeta {
            mode: m.permissions().mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
        })
    }

    fn sha256(&self, path: &Path) -> Result<Option<String>, FileError> {
        let read_error = |source| FileError::Read {
            path: path.to_owned(),
            source,
        };
        let mut f = match std::fs::File::open(self.root.join(path)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(read_error(e)),
        };
        let mut hash = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf).map_err(read_error)?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
        }
        Ok(Some(format!("{:x}", hash.finalize())))
    }

    fn install(&self, staged: Staged, path: &Path, want: Wanted) -> Result<(), FileError> {
        let Wanted { mode, uid, gid } = want;
        let write_error = |source| FileError::Write {
            path: path.to_owned(),
            source,
        };
        let Staged { file, path: tmp } = staged;
        drop(file);
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode))
            .map_err(write_error)?;
        if uid.is_some() || gid.is_some() {
            nix::unistd::chown(
                tmp.as_os_str(),
                uid.map(nix::unistd::Uid::from_raw),
                gid.map(nix::unistd::Gid::from_raw),
            )
            .map_err(|source| FileError::Chown {
                path: path.to_owned(),
                source,
            })?;
        }
        tmp.persist(self.root.join(path))
            .map_err(|e| write_error(e.error))
    }

    fn remove(&self, path: &Path) -> Result<bool, FileError> {
        match std::fs::remove_file(self.root.join(path)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(source) => Err(FileError::Write {
                path: path.to_owned(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rooted() -> (tempfile::TempDir, LinuxFiles) {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc/app")).unwrap();
        let files = LinuxFiles {
            root: root.path().into(),
        };
        (root, files)
    }

    #[test]
    fn stages_and_installs_under_the_root() {
        let (root, files) = rooted();
        let target = Path::new("/etc/app/app.conf");
        assert!(files.is_dir(Path::new("/etc/app")));
        assert_eq!(files.sha256(target).unwrap(), None);
        assert_eq!(files.metadata(target), None);
        let mut staged = files.stage(target).unwrap();
        staged.write(b"port=80\n").unwrap();
        staged.sync().unwrap();
        files
            .install(
                staged,
                target,
                Wanted {
                    mode: 0o640,
                    uid: None,
                    gid: None,
                },
            )
            .unwrap();
        let real = root.path().join("etc/app/app.conf");
        assert_eq!(std::fs::read(&real).unwrap(), b"port=80\n");
        assert_eq!(files.metadata(target).map(|m| m.mode), Some(0o640));
        assert_eq!(
            files.sha256(target).unwrap(),
            Some(format!("{:x}", Sha256::digest(b"port=80\n")))
        );
        // Only the target is left: the staging file was renamed, not copied.
        assert_eq!(entries(&root.path().join("etc/app")), 1);
    }

    fn entries(dir: &Path) -> usize {
        std::fs::read_dir(dir).expect("dir").count()
    }

    #[test]
    fn a_dropped_stage_leaves_nothing() {
        let (root, files) = rooted();
        let mut staged = files.stage(Path::new("/etc/app/x")).unwrap();
        staged.write(b"partial").unwrap();
        drop(staged);
        assert_eq!(entries(&root.path().join("etc/app")), 0);
    }

    #[test]
    fn errors_name_the_host_path() {
        let (_root, files) = rooted();
        let e = files.stage(Path::new("/missing/x")).unwrap_err();
        assert_eq!(
            e.to_string().split(": ").take(2).collect::<Vec<_>>(),
            ["not found", "/missing"]
        );
    }

    #[test]
    fn names_from_the_roots_databases() {
        let (root, files) = rooted();
        std::fs::write(
            root.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1234:1234::/srv:/bin/false\n",
        )
        .unwrap();
        std::fs::write(root.path().join("etc/group"), "root:x:0:\nweb:x:33:app\n").unwrap();
        assert_eq!(files.user_id("app"), Some(1234));
        assert_eq!(files.user_id("nobody-here"), None);
        assert_eq!(files.group_id("web"), Some(33));
        assert_eq!(files.group_id("app"), None);
    }

    #[test]
    fn host_root_resolves_through_nss() {
        let files = LinuxFiles::default();
        assert_eq!(files.user_id("root"), Some(0));
        assert_eq!(files.group_id("root"), Some(0));
    }
}
