//! What every provider shares: the system root files live under, and finding a program on
//! `PATH`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The directory the host's filesystem is read and written under: `/` in production, a
/// temp dir in tests, so that no test touches the machine it runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemRoot(PathBuf);

impl Default for SystemRoot {
    fn default() -> Self {
        Self("/".into())
    }
}

impl From<&Path> for SystemRoot {
    fn from(dir: &Path) -> Self {
        Self(dir.to_path_buf())
    }
}

impl SystemRoot {
    /// `path`, absolute or relative on the host, under the root.
    pub fn join(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = path.as_ref();
        self.0.join(path.strip_prefix("/").unwrap_or(path))
    }

    /// Whether this is the running system's own `/` (NSS lookups, live tools apply).
    pub fn is_host(&self) -> bool {
        self.0 == Path::new("/")
    }

    /// Whether the system under the root is a container: a runtime's marker file, or PID
    /// 1's cgroup or environment naming one.
    pub fn in_container(&self) -> bool {
        let marker = [".dockerenv", "run/.containerenv"]
            .iter()
            .any(|m| self.join(m).exists());
        marker
            || containerized(
                &self.read_or_empty("proc/1/cgroup"),
                &self.read_or_empty("proc/1/environ"),
            )
    }

    /// The system's machine id (`/etc/machine-id`, or D-Bus's copy), empty when it has
    /// none.
    pub fn machine_id(&self) -> String {
        ["etc/machine-id", "var/lib/dbus/machine-id"]
            .iter()
            .map(|p| self.read_or_empty(p).trim().to_owned())
            .find(|id| !id.is_empty())
            .unwrap_or_default()
    }

    /// A file under the root, empty when unreadable (for facts that may be absent).
    pub fn read_or_empty(&self, path: impl AsRef<Path>) -> String {
        std::fs::read_to_string(self.join(path)).unwrap_or_default()
    }
}

/// Inside a container as PID 1's cgroup or environment says.
fn containerized(pid1_cgroup: &str, pid1_environ: &str) -> bool {
    ["docker", "kubepods", "containerd", "lxc", "libpod"]
        .iter()
        .any(|m| pid1_cgroup.contains(m))
        || pid1_environ
            .split('\0')
            .any(|v| v.starts_with("container="))
}

/// The system under a root, changed through a runner: what every provider that writes
/// files and runs system tools holds (`LinuxHost`, `LinuxSysctl` are this type).
pub struct LinuxSystem {
    pub root: SystemRoot,
    pub runner: std::sync::Arc<dyn super::runner::Runner>,
}

impl Default for LinuxSystem {
    fn default() -> Self {
        Self {
            root: SystemRoot::default(),
            runner: std::sync::Arc::new(super::runner::SystemRunner),
        }
    }
}

/// The first executable file named `program` in the directories of `PATH`, as a shell
/// would find it; `None` when `PATH` is unset or holds none.
pub fn which(program: &str) -> Option<PathBuf> {
    which_in(program, &std::env::var_os("PATH")?)
}

/// [`which`] over an explicit search path (tests, a configured `PATH`).
pub fn which_in(program: &str, search_path: &std::ffi::OsStr) -> Option<PathBuf> {
    // A name with a slash is a path, not something to search for.
    if program.is_empty() || program.contains('/') {
        return None;
    }
    std::env::split_paths(search_path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

/// A regular file (after symlinks) with an execute bit set.
pub fn is_executable(path: &Path) -> bool {
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_executable_on_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        // Not executable in `a`: skipped, as a shell would.
        std::fs::write(a.join("tool"), "").unwrap();
        std::fs::write(b.join("tool"), "").unwrap();
        std::fs::set_permissions(b.join("tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = std::env::join_paths([&a, &b]).unwrap();
        assert_eq!(which_in("tool", &path), Some(b.join("tool")));
        assert_eq!(which_in("missing", &path), None);
        assert_eq!(which_in("b/tool", &path), None);
        assert_eq!(which_in("", &path), None);
    }

    #[test]
    fn paths_resolve_under_the_root() {
        let root = SystemRoot::from(Path::new("/tmp/r"));
        assert_eq!(root.join("/etc/hostname"), Path::new("/tmp/r/etc/hostname"));
        assert_eq!(root.join("etc/hostname"), Path::new("/tmp/r/etc/hostname"));
        assert!(!root.is_host() && SystemRoot::default().is_host());
        assert_eq!(root.read_or_empty("no/such/file"), "");
        assert_eq!(root.machine_id(), "");
    }

    #[test]
    fn container_detection() {
        assert!(containerized("0::/kubepods/burstable/pod1", ""));
        assert!(containerized("", "PATH=/bin\0container=podman\0"));
        assert!(!containerized("0::/init.scope", "PATH=/bin\0"));
        let dir = tempfile::tempdir().unwrap();
        let root = SystemRoot::from(dir.path());
        assert!(!root.in_container());
        std::fs::write(dir.path().join(".dockerenv"), "").unwrap();
        assert!(root.in_container());
    }

    #[test]
    fn finds_sh_on_this_host() {
        assert!(which("sh").is_some_and(|p| is_executable(&p)));
    }
}
