//! `osapi config ...`: config files.

use std::path::{Path, PathBuf};

use clap::Subcommand;

use crate::security::{signing_key, SecurityError};

/// The `osapi config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Write a commented config (every key, its default and meaning) with a freshly
    /// generated signing key, mode 0600.
    Init(InitArgs),
}

/// `osapi config init [PATH] [--force]`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// Where to write it; default: the -f/--osapi-file path.
    pub path: Option<PathBuf>,
    /// Replace an existing file.
    #[arg(long)]
    pub force: bool,
}

/// Writes the config of `osapi config init`; `default_path` is the `-f` path. Needs no
/// config of its own: it makes the first one.
pub fn init(args: &InitArgs, default_path: &Path) -> Result<(), SecurityError> {
    let path = args.path.as_deref().unwrap_or(default_path);
    let text = signing_key::fresh_config(include_str!("../../osapi.yaml.example"))?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| SecurityError::File {
            action: "create directory",
            path: dir.to_owned(),
            source: e,
        })?;
    }
    if !crate::security::write_private(path, &text, args.force)? {
        return Err(SecurityError::Exists {
            path: path.to_owned(),
        });
    }
    println!(
        "wrote {} with a fresh signing key (mode 0600); start with: osapi -f {} start",
        path.display(),
        path.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn init_writes_a_private_config_and_keeps_an_existing_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("etc/osapi.yaml");
        let args = |force| InitArgs {
            path: Some(path.clone()),
            force,
        };
        init(&args(false), Path::new("/nonexistent")).expect("init");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let first = std::fs::read_to_string(&path).expect("read");
        let config = crate::config::Config::load(&path).expect("loads");
        assert!(signing_key::weakness(config.signing_key().expect("key")).is_none());

        let err = init(&args(false), Path::new("/nonexistent")).expect_err("exists");
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), first);
        init(&args(true), Path::new("/nonexistent")).expect("forced");
        assert_ne!(std::fs::read_to_string(&path).expect("read"), first);
    }
}
