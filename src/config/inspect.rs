//! `osapi config check` and `osapi config show`: every error of a config at once, and the
//! effective config with its secrets masked.
//!
//! Loading ([`Config::from_yaml_and_env`]) stops at the first bad key, which is right for
//! a service but slow for an operator fixing a file. Checking goes on past each error: it
//! records the error, puts that key back to its default (or drops it, when the schema has
//! no such key), and tries again, so every bad key is named in one run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_yaml::Value;

use super::{
    alias_notification_vars, env_name, prepare, schema_leaves, Config, ConfigError, ConfigWarning,
    ENV_PREFIX,
};

/// What a secret reads as in `osapi config show`.
pub const MASK: &str = "************";

/// Keys whose values are secrets wherever they appear (the signing key, the job key, the client's
/// bearer token, every NATS password and token).
const SECRET_KEYS: &[&str] = &[
    "signing_key",
    "bearer_token",
    "password",
    "token",
    "job_key",
];

/// Environment variables that are not config keys but belong to osapi.
const OTHER_VARS: &[&str] = &["OSAPI_OSAPIFILE"];

/// Tries of one check; far above the number of keys a file can get wrong, so it only
/// guards against a repair that never converges.
const MAX_ROUNDS: usize = 1000;

/// What checking a config found.
#[derive(Debug)]
pub struct CheckReport {
    /// Every error, each naming its key, variable or file; empty when the config loads.
    pub errors: Vec<ConfigError>,
    /// What loads but deserves a word: keys that do nothing, variables that match no key,
    /// a missing signing key.
    pub warnings: Vec<String>,
}

impl CheckReport {
    /// Whether the config loads.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

impl ConfigError {
    /// The key, variable or file the error is about.
    pub fn subject(&self) -> String {
        match self {
            Self::Read { path, .. } | Self::Yaml { path, .. } => path.display().to_string(),
            Self::Key { key, .. } => key.clone(),
            Self::Env { var, .. } => var.clone(),
        }
    }
}

impl Config {
    /// Checks YAML text plus environment pairs as [`Config::from_yaml_and_env`] loads them,
    /// collecting every error instead of stopping at the first. Only a file that is not
    /// YAML at all stops the check at once.
    pub fn check(
        text: &str,
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> CheckReport {
        let env: Vec<(String, String)> = env.into_iter().collect();
        let mut errors = Vec::new();
        let mut warnings: Vec<String> = unknown_vars(&env)
            .into_iter()
            .map(|var| format!("environment variable {var} matches no config key; ignored"))
            .collect();
        let env_vars: BTreeSet<String> = env.iter().map(|(k, _)| k.clone()).collect();
        let prepared = prepare(text, path, env, &mut |e| {
            errors.push(e);
            Ok(())
        });
        let (mut value, loaded) = match prepared {
            Ok(prepared) => prepared,
            Err(e) => {
                errors.push(e);
                return CheckReport { errors, warnings };
            }
        };
        warnings.extend(loaded.iter().map(ConfigWarning::to_string));
        let defaults = serde_yaml::to_value(Config::default()).unwrap_or(Value::Null);
        // How many times each key failed: each repeat resets one section further up, so a
        // key that is only wrong because of its section (a webhook URL while the notifier
        // is webhook) does not stop the check.
        let mut failures: BTreeMap<String, usize> = BTreeMap::new();
        for _ in 0..MAX_ROUNDS {
            let error = match Config::checked(value.clone(), Vec::new(), |_| None) {
                Ok(config) => {
                    if config.signing_key().is_err() {
                        warnings.push(
                            "controller.api.security.signing_key is empty: `osapi start` and \
                             `osapi controller start` refuse to run without it"
                                .into(),
                        );
                    }
                    break;
                }
                Err(error) => error,
            };
            let key = error.subject();
            let count = failures.entry(key.clone()).or_default();
            if *count == 0 {
                errors.push(naming_the_variable(error, &env_vars));
            }
            *count += 1;
            let segments = segments(&key);
            let keep = segments.len().saturating_sub(*count - 1);
            repair(&mut value, &defaults, &segments[..keep.max(1)]);
        }
        CheckReport { errors, warnings }
    }

    /// The config as `osapi config show` prints it: every key, secrets masked (an empty
    /// secret stays empty, so that it reads as unset).
    pub fn masked(&self) -> Value {
        let mut value = serde_yaml::to_value(self).unwrap_or(Value::Null);
        mask(&mut value);
        value
    }
}

/// A key's error says so when an `OSAPI_*` variable set the key, since the file may not
/// even mention it.
fn naming_the_variable(error: ConfigError, env: &BTreeSet<String>) -> ConfigError {
    let ConfigError::Key { key, message } = error else {
        return error;
    };
    let path: Vec<String> = segments(&key)
        .into_iter()
        .map_while(|s| match s {
            Segment::Key(k) => Some(k),
            Segment::Index(_) => None,
        })
        .collect();
    let var = env_name(&path);
    let message = if env.contains(&var) {
        format!("{message} (set by {var})")
    } else {
        message
    };
    ConfigError::Key { key, message }
}

fn mask(value: &mut Value) {
    match value {
        Value::Mapping(map) => {
            for (key, v) in map.iter_mut() {
                let secret = key.as_str().is_some_and(|k| SECRET_KEYS.contains(&k));
                match v {
                    Value::String(s) if secret && !s.is_empty() => *s = MASK.into(),
                    other => mask(other),
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(mask),
        _ => {}
    }
}

/// `OSAPI_*` variables that set no key (a typo would otherwise pass unnoticed).
fn unknown_vars(env: &[(String, String)]) -> Vec<String> {
    let known: BTreeSet<String> = schema_leaves()
        .into_iter()
        .map(|(path, _)| env_name(&path))
        .collect();
    env.iter()
        .map(|(var, _)| var)
        .filter(|var| var.starts_with(ENV_PREFIX) && !OTHER_VARS.contains(&var.as_str()))
        .filter(|var| {
            // The short spelling counts when its long one is a key.
            let mut one: BTreeMap<String, String> =
                [((*var).clone(), String::new())].into_iter().collect();
            alias_notification_vars(&mut one);
            !one.keys().any(|v| known.contains(v))
        })
        .cloned()
        .collect()
}

/// One step of a key path as errors print it: `agent.consumer.back_off[2]` is
/// `agent`, `consumer`, `back_off`, `[2]`.
#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Key(String),
    Index(usize),
}

fn segments(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            out.push(Segment::Key(name.to_owned()));
        }
        while let Some((index, tail)) = rest.split_once(']') {
            if let Ok(i) = index.parse() {
                out.push(Segment::Index(i));
            }
            rest = tail.strip_prefix('[').unwrap_or(tail);
        }
    }
    out
}

fn child<'a>(value: &'a Value, segment: &Segment) -> Option<&'a Value> {
    match segment {
        Segment::Key(k) => value.get(k.as_str()),
        Segment::Index(i) => value.get(*i),
    }
}

fn child_mut<'a>(value: &'a mut Value, segment: &Segment) -> Option<&'a mut Value> {
    match segment {
        Segment::Key(k) => value.get_mut(k.as_str()),
        Segment::Index(i) => value.get_mut(*i),
    }
}

/// Takes a bad key out of the way: back to its default when the schema has the key,
/// dropped when it does not (an unknown key, a label, a list entry the defaults lack).
fn repair(value: &mut Value, defaults: &Value, path: &[Segment]) {
    let Some((last, parents)) = path.split_last() else {
        *value = defaults.clone();
        return;
    };
    let default = path.iter().try_fold(defaults, child);
    let Some(parent) = parents.iter().try_fold(value, |v, s| child_mut(v, s)) else {
        return;
    };
    match (default, last, parent) {
        (Some(default), _, parent) => {
            if let Some(slot) = child_mut(parent, last) {
                *slot = default.clone();
            }
        }
        (None, Segment::Key(k), Value::Mapping(map)) => {
            map.remove(k.as_str());
        }
        (None, Segment::Index(i), Value::Sequence(items)) if *i < items.len() => {
            items.remove(*i);
        }
        // Nothing to take away: the next round names a key further up.
        (None, _, _) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str, env: &[(&str, &str)]) -> CheckReport {
        Config::check(
            yaml,
            Path::new("test.yaml"),
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    fn subjects(report: &CheckReport) -> Vec<String> {
        report.errors.iter().map(ConfigError::subject).collect()
    }

    #[test]
    fn a_good_config_has_no_errors() {
        let report = check("controller: {api: {security: {signing_key: k}}}", &[]);
        assert!(report.is_ok(), "{:?}", report.errors);
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    }

    #[test]
    fn every_bad_key_of_a_file_and_the_environment_is_named_in_one_check() {
        let yaml = "
controller:
  api:
    port: eighty
    prot: 1
    job_timeout: 3 parsecs
  notifications:
    notifier: webhook
nats:
  stream:
    storage: tape
agent:
  max_jobs: 0
  labels:
    group: web..dev
  consumer:
    back_off: [1s, nope]
";
        let report = check(
            yaml,
            &[
                ("OSAPI_AGENT_QUEUE_GROUP", "q"),
                ("OSAPI_NATS_KV_REPLICAS", "["),
                ("OSAPI_NATS_DLQ_REPLICAS", "x"),
            ],
        );
        let mut got = subjects(&report);
        got.sort();
        let mut want = vec![
            "controller.api.port",
            "controller.api.prot",
            "controller.api.job_timeout",
            "controller.notifications.webhook.url",
            "nats.stream.storage",
            "agent.max_jobs",
            "agent.labels.group",
            "agent.consumer.back_off",
            "OSAPI_NATS_KV_REPLICAS",
            "nats.dlq.replicas",
        ];
        want.sort_unstable();
        assert_eq!(got, want, "{:#?}", report.errors);
        // A key set from the environment says so: the file may not mention it.
        let dlq = report
            .errors
            .iter()
            .find(|e| e.subject() == "nats.dlq.replicas");
        assert!(dlq.is_some_and(|e| e.to_string().contains("set by OSAPI_NATS_DLQ_REPLICAS")));
    }

    #[test]
    fn a_file_that_is_not_yaml_is_one_error_naming_the_file() {
        let report = check("controller: [", &[]);
        assert_eq!(subjects(&report), ["test.yaml"]);
    }

    #[test]
    fn unknown_variables_and_a_missing_signing_key_are_warnings() {
        let report = check(
            "",
            &[
                ("OSAPI_CONTROLER_API_PORT", "1"),
                ("OSAPI_NOTIFICATIONS_ENABLED", "true"),
                ("OSAPI_OSAPIFILE", "x"),
                ("HOME", "/root"),
            ],
        );
        assert!(report.is_ok());
        assert_eq!(report.warnings.len(), 2, "{:?}", report.warnings);
        assert!(report.warnings[0].contains("OSAPI_CONTROLER_API_PORT"));
        assert!(report.warnings[1].contains("signing_key"));
    }

    #[test]
    fn path_segments_read_list_indexes() {
        assert_eq!(
            segments("a.b[2].c"),
            [
                Segment::Key("a".into()),
                Segment::Key("b".into()),
                Segment::Index(2),
                Segment::Key("c".into())
            ]
        );
    }

    #[test]
    fn show_masks_every_secret_and_leaves_unset_ones_empty() {
        let mut config = Config::default();
        config.controller.api.security.signing_key = "s3cret-key".into();
        config.controller.client.security.bearer_token = "s3cret-jwt".into();
        config.agent.nats.auth.password = "s3cret-pw".into();
        config.nats.server.auth.users.push(super::super::NatsUser {
            username: "osapi".into(),
            password: "s3cret-user".into(),
        });
        let text = serde_yaml::to_string(&config.masked()).expect("yaml");
        assert!(!text.contains("s3cret"), "{text}");
        assert_eq!(text.matches(MASK).count(), 4, "{text}");
        assert!(text.contains("username: osapi"), "{text}");
        assert!(text.contains("token: ''"), "{text}");
    }
}
