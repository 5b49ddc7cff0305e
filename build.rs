//! Build facts for `osapi version` that only the build script can see: the target triple
//! and the compiler's version. Everything else `osapi version` prints comes from the
//! environment of the build (`OSAPI_GIT_COMMIT` and friends, read with `option_env!`, which
//! cargo tracks by itself).

use std::process::Command;

fn main() {
    // Neither fact changes without cargo rebuilding everything anyway (a new target or a
    // new compiler), so the script need not rerun for anything but its own edits: a
    // rerun per commit would recompile the whole crate for nothing.
    println!("cargo:rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".into());
    println!("cargo:rustc-env=OSAPI_BUILD_TARGET={target}");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=OSAPI_RUSTC_VERSION={version}");
}
