//! Private files: written whole with mode 0600 (never visible half-written or with looser
//! permissions, even to a process racing us), read back trimmed.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

use super::SecurityError;

/// Creates `dir` with mode 0700 (its parents as usual) unless it exists.
pub fn ensure_private_dir(dir: &Path) -> Result<(), SecurityError> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| SecurityError::file("create directory", parent, e))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            Err(SecurityError::file("create directory", dir, e))
        }
        _ => Ok(()),
    }
}

/// Writes `contents` to `path` with mode 0600. With `replace` an existing file is replaced;
/// without, it is left alone and the answer is `false`. The text goes to a temporary file
/// first and is then renamed (replace) or hard-linked (no clobber) into place, so no reader
/// ever sees a partial file and two processes creating the same file agree on one.
pub fn write_private(path: &Path, contents: &str, replace: bool) -> Result<bool, SecurityError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map_or_else(|| "secret".into(), |n| n.to_string_lossy().into_owned());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(contents.as_bytes())?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(SecurityError::file("write", path, e));
    }
    let placed = if replace {
        std::fs::rename(&tmp, path).map(|()| true)
    } else {
        let linked = match std::fs::hard_link(&tmp, path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        };
        let _ = std::fs::remove_file(&tmp);
        linked
    };
    placed.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        SecurityError::file("write", path, e)
    })
}

/// The trimmed contents of `path`; `None` when it does not exist. Warns when others may
/// read it: the secret still works, but the operator should know.
pub fn read(path: &Path) -> Result<Option<String>, SecurityError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SecurityError::file("read", path, e)),
    };
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.mode() & 0o077 != 0 {
            tracing::warn!(
                path = %path.display(),
                mode = format!("{:o}", meta.mode() & 0o777),
                "secret file is readable by other users; run `chmod 600` on it"
            );
        }
    }
    Ok(Some(text.trim().to_owned()))
}

/// The secret in `path`, created from `generate` when the file does not exist (in a 0700
/// directory). `true` when this call created it. A racing process's file wins over ours.
pub fn read_or_create(
    path: &Path,
    generate: impl FnOnce() -> Result<String, SecurityError>,
) -> Result<(String, bool), SecurityError> {
    if let Some(existing) = read(path)? {
        return Ok((existing, false));
    }
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        ensure_private_dir(dir)?;
    }
    let fresh = generate()?;
    if write_private(path, &format!("{fresh}\n"), false)? {
        return Ok((fresh, true));
    }
    let existing = read(path)?
        .ok_or_else(|| SecurityError::file("read", path, std::io::ErrorKind::NotFound.into()))?;
    Ok((existing, false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
    }

    #[test]
    fn secrets_are_created_private_once_and_read_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("creds").join("k");
        let (first, created) = read_or_create(&path, || Ok("one".into())).expect("create");
        assert_eq!((first.as_str(), created), ("one", true));
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().expect("dir")), 0o700);
        let (again, created) = read_or_create(&path, || Ok("two".into())).expect("read");
        assert_eq!((again.as_str(), created), ("one", false));
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(path.parent().expect("dir"))
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["k"]);
    }

    #[test]
    fn replace_is_explicit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        assert!(write_private(&path, "a", false).expect("write"));
        assert!(!write_private(&path, "b", false).expect("no clobber"));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "a");
        assert!(write_private(&path, "c", true).expect("replace"));
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "c");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(read(&dir.path().join("none")).expect("absent"), None);
    }
}
