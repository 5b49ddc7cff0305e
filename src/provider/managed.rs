//! Files a provider manages whole (cron scripts, unit files, their records): written only
//! when their content or mode differs, so a second identical write changes nothing.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use super::ProviderError;

/// Makes `path` hold exactly `content` with `mode` (atomically, creating its directory);
/// whether anything had to change.
pub fn ensure_file(path: &Path, content: &[u8], mode: u32) -> Result<bool, ProviderError> {
    let what = path.display().to_string();
    let same_content = match std::fs::read(path) {
        Ok(current) => current == content,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(ProviderError::from_io(&what, e)),
    };
    if same_content {
        let current_mode = std::fs::metadata(path)
            .map_err(|e| ProviderError::from_io(&what, e))?
            .permissions()
            .mode()
            & 0o7777;
        if current_mode == mode {
            return Ok(false);
        }
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| ProviderError::from_io(&dir.display().to_string(), e))?;
    }
    super::host::write_atomic_mode(path, content, mode)?;
    Ok(true)
}

/// Removes `path`; `false` when it was not there.
pub fn remove_file(path: &Path) -> Result<bool, ProviderError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(ProviderError::from_io(&path.display().to_string(), e)),
    }
}

/// The content of `path`, `None` when it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<Vec<u8>>, ProviderError> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ProviderError::from_io(&path.display().to_string(), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_only_what_differs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/file");
        assert!(ensure_file(&path, b"one\n", 0o755).unwrap());
        assert!(!ensure_file(&path, b"one\n", 0o755).unwrap());
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode(&path), 0o755);
        assert!(ensure_file(&path, b"one\n", 0o644).unwrap(), "mode differs");
        assert_eq!(mode(&path), 0o644);
        assert!(ensure_file(&path, b"two\n", 0o644).unwrap());
        assert_eq!(
            read_optional(&path).unwrap().as_deref(),
            Some(&b"two\n"[..])
        );
        assert!(remove_file(&path).unwrap());
        assert!(!remove_file(&path).unwrap());
        assert_eq!(read_optional(&path).unwrap(), None);
    }
}
