//! `osapi version`: the build facts the original prints, under its names, then ours.

use serde::Serialize;

/// What `osapi version` prints, as pretty JSON.
///
/// The first nine fields are the original's, in its order and spelling (its Go library's
/// JSON names, `moduleChecksum` included). Values a Rust build cannot have are `unknown`
/// (no Go module checksum) or `n/a` (no Go toolchain), so a script reading the original's
/// keys finds every one of them. A release build sets the git facts the way the original
/// sets its link flags: `OSAPI_GIT_COMMIT`, `OSAPI_GIT_TREE_STATE`, `OSAPI_BUILD_DATE` and
/// `OSAPI_BUILT_BY` in the environment of `cargo build` (read at compile time, so a plain
/// build never recompiles for a new commit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionInfo {
    /// The crate version (the original: the git tag it was built from).
    pub git_version: &'static str,
    /// Always `unknown`: there is no Go module to checksum.
    pub module_checksum: &'static str,
    /// `OSAPI_GIT_COMMIT` at build time, else `unknown`.
    pub git_commit: &'static str,
    /// `OSAPI_GIT_TREE_STATE` (`clean` or `dirty`) at build time, else `unknown`.
    pub git_tree_state: &'static str,
    /// `OSAPI_BUILD_DATE` at build time, else `unknown`.
    pub build_date: &'static str,
    /// `OSAPI_BUILT_BY` at build time, else `unknown`.
    pub built_by: &'static str,
    /// Always `n/a`: osapi is not built with Go (see `rustcVersion`).
    pub go_version: &'static str,
    /// Always `rustc`.
    pub compiler: &'static str,
    /// `<os>/<arch>`, e.g. `linux/x86_64`.
    pub platform: String,
    /// The crate version again, under the name osapi printed it before.
    pub version: &'static str,
    /// The compiler that built this binary, e.g. `rustc 1.85.0 (...)`.
    pub rustc_version: &'static str,
    /// The target triple, e.g. `x86_64-unknown-linux-gnu`.
    pub target: &'static str,
    /// `debug` or `release`.
    pub profile: &'static str,
}

/// `unknown` when the build did not set the value, as the original prints it.
const UNKNOWN: &str = "unknown";

impl VersionInfo {
    /// The facts of this binary.
    pub fn current() -> Self {
        Self {
            git_version: crate::VERSION,
            module_checksum: UNKNOWN,
            git_commit: option_env!("OSAPI_GIT_COMMIT").unwrap_or(UNKNOWN),
            git_tree_state: option_env!("OSAPI_GIT_TREE_STATE").unwrap_or(UNKNOWN),
            build_date: option_env!("OSAPI_BUILD_DATE").unwrap_or(UNKNOWN),
            built_by: option_env!("OSAPI_BUILT_BY").unwrap_or(UNKNOWN),
            go_version: "n/a",
            compiler: "rustc",
            platform: format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
            version: crate::VERSION,
            rustc_version: env!("OSAPI_RUSTC_VERSION"),
            target: env!("OSAPI_BUILD_TARGET"),
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
        }
    }
}
