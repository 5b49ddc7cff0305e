//! `osapi config ...`: the config file itself, written, checked and shown.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use crate::config::{CheckReport, Config, ConfigError, DEFAULT_CONFIG_PATH};
use crate::security::{signing_key, SecurityError};

/// The subcommands of `osapi config`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check the config file plus OSAPI_* environment overrides; every bad key is named,
    /// and the exit status is non-zero if there is one.
    Check,
    /// Print the effective config (defaults, file, OSAPI_* overrides) with secrets masked,
    /// as YAML, or JSON with -j.
    Show,
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

/// Runs a `config` subcommand on the file `path`.
pub fn run(path: &Path, command: ConfigCommand, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        ConfigCommand::Check => {
            let report = check(path);
            if json {
                println!("{}", serde_json::to_string_pretty(&as_json(path, &report))?);
            } else {
                print!("{}", as_text(path, &report));
            }
            Ok(if report.is_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        ConfigCommand::Show => {
            let masked = super::load_config(path)?.masked();
            if json {
                println!("{}", serde_json::to_string_pretty(&masked)?);
            } else {
                print!("{}", serde_yaml::to_string(&masked)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        // Makes the first config, so it loads none.
        ConfigCommand::Init(args) => {
            init(&args, path)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Checks `path` as the services would load it: a missing file at the default path means
/// defaults and the environment only, as it does for them.
fn check(path: &Path) -> CheckReport {
    let env = std::env::vars();
    if path == Path::new(DEFAULT_CONFIG_PATH) && !path.exists() {
        let mut report = Config::check("", path, env);
        report.warnings.insert(
            0,
            format!(
                "{} does not exist: checked the defaults and the environment",
                path.display()
            ),
        );
        return report;
    }
    match std::fs::read_to_string(path) {
        Ok(text) => Config::check(&text, path, env),
        Err(source) => CheckReport {
            errors: vec![ConfigError::Read {
                path: path.to_owned(),
                source,
            }],
            warnings: Vec::new(),
        },
    }
}

fn as_text(path: &Path, report: &CheckReport) -> String {
    let mut out = String::new();
    for error in &report.errors {
        out.push_str(&format!("error: {error}\n"));
    }
    for warning in &report.warnings {
        out.push_str(&format!("warning: {warning}\n"));
    }
    let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let verdict = if report.is_ok() { "ok" } else { "invalid" };
    out.push_str(&format!(
        "{}: {verdict} ({}, {})\n",
        path.display(),
        count(report.errors.len(), "error"),
        count(report.warnings.len(), "warning")
    ));
    out
}

fn as_json(path: &Path, report: &CheckReport) -> serde_json::Value {
    let errors: Vec<_> = report
        .errors
        .iter()
        .map(|e| json!({"key": e.subject(), "error": e.to_string()}))
        .collect();
    json!({
        "file": path.display().to_string(),
        "ok": report.is_ok(),
        "errors": errors,
        "warnings": report.warnings,
    })
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
