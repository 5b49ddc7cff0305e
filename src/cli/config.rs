//! `osapi config ...`: the config file itself, checked and shown.
//!
//! `check` and `show` are siblings in [`ConfigCommand`]; `init` (a commented config with a
//! fresh signing key) is meant to join them there.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use crate::config::{CheckReport, Config, ConfigError, DEFAULT_CONFIG_PATH};

/// The subcommands of `osapi config`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check the config file plus OSAPI_* environment overrides; every bad key is named,
    /// and the exit status is non-zero if there is one.
    Check,
    /// Print the effective config (defaults, file, OSAPI_* overrides) with secrets masked,
    /// as YAML, or JSON with -j.
    Show,
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
