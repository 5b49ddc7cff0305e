//! Job targets: `_any`, `_all`, a hostname, or a `key:value` label with hierarchical dots.

use std::collections::BTreeMap;
use std::fmt;

/// Where a job goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Exactly one agent, load balanced.
    Any,
    /// Every agent.
    All,
    /// The agent with this hostname.
    Host(String),
    /// Every agent whose label `key` equals `value` or lies below it (`web` matches `web.dev`).
    Label { key: String, value: String },
}

/// Why a target string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("target must not be empty")]
    Empty,
    #[error(
        "invalid hostname {0:?}: use letters, digits, '-', '_' and '.' (at most 253 characters)"
    )]
    Hostname(String),
    #[error("invalid label {0:?}: key and each dot-separated part of the value must match [A-Za-z0-9_-]+")]
    Label(String),
}

impl Target {
    /// Parses a target as given in a path, a flag or a job record.
    pub fn parse(raw: &str) -> Result<Self, TargetError> {
        match raw {
            "" => Err(TargetError::Empty),
            "_any" => Ok(Self::Any),
            "_all" => Ok(Self::All),
            _ => match raw.split_once(':') {
                Some((key, value)) => {
                    validate_label(key, value)?;
                    Ok(Self::Label {
                        key: key.to_owned(),
                        value: value.to_owned(),
                    })
                }
                None => {
                    validate_hostname(raw)?;
                    Ok(Self::Host(raw.to_owned()))
                }
            },
        }
    }

    /// `_all` and labels reach many agents; `_any` and a hostname reach one.
    pub fn is_broadcast(&self) -> bool {
        matches!(self, Self::All | Self::Label { .. })
    }

    /// Does an agent with this hostname and these labels receive jobs for this target?
    pub fn matches(&self, hostname: &str, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Self::Any | Self::All => true,
            Self::Host(h) => h == hostname,
            Self::Label { key, value } => labels
                .get(key)
                .is_some_and(|v| label_value_matches(value, v)),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("_any"),
            Self::All => f.write_str("_all"),
            Self::Host(h) => f.write_str(h),
            Self::Label { key, value } => write!(f, "{key}:{value}"),
        }
    }
}

/// Hierarchical label match: `web` matches `web` and `web.dev.us-east`, not `webx`.
pub fn label_value_matches(wanted: &str, agent_value: &str) -> bool {
    agent_value == wanted
        || agent_value
            .strip_prefix(wanted)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// Every prefix level of a dotted label value: `a.b.c` gives `a`, `a.b`, `a.b.c`.
pub fn label_prefixes(value: &str) -> Vec<String> {
    let parts: Vec<&str> = value.split('.').collect();
    (1..=parts.len()).map(|n| parts[..n].join(".")).collect()
}

fn is_label_token(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Checks a label key and its dotted value.
pub fn validate_label(key: &str, value: &str) -> Result<(), TargetError> {
    if is_label_token(key) && value.split('.').all(is_label_token) {
        Ok(())
    } else {
        Err(TargetError::Label(format!("{key}:{value}")))
    }
}

/// Checks a hostname: RFC 1123 characters plus `_`, no empty dot-separated parts.
pub fn validate_hostname(host: &str) -> Result<(), TargetError> {
    let ok = !host.is_empty()
        && host.len() <= 253
        && !host.starts_with('_')
        && host.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        });
    if ok {
        Ok(())
    } else {
        Err(TargetError::Hostname(host.to_owned()))
    }
}

/// The one hostname sanitiser: a token safe in NATS subjects, KV keys and consumer names.
///
/// ASCII letters, digits and `-` stay; every other byte becomes `_` and two hex digits, so
/// `web.01` (`web_2e01`) and `web_01` (`web_5f01`) stay apart.
pub fn sanitize_hostname(host: &str) -> String {
    let mut out = String::with_capacity(host.len());
    for b in host.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' {
            out.push(b as char);
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(Target::parse("_any"), Ok(Target::Any));
        assert_eq!(Target::parse("_all"), Ok(Target::All));
        assert_eq!(
            Target::parse("web-01.example.com"),
            Ok(Target::Host("web-01.example.com".into()))
        );
        assert_eq!(
            Target::parse("group:web.dev"),
            Ok(Target::Label {
                key: "group".into(),
                value: "web.dev".into()
            })
        );
    }

    #[test]
    fn rejects_bad_targets() {
        for bad in [
            "",
            "a b",
            "group:",
            ":web",
            "group:web..dev",
            "x/y",
            "_local",
            "a*",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn hierarchical_label_matching() {
        let a = labels(&[("group", "web.dev.us-east")]);
        let b = labels(&[("group", "web.prod")]);
        let c = labels(&[("group", "db")]);
        let web = Target::parse("group:web").unwrap();
        assert!(web.matches("a", &a) && web.matches("b", &b) && !web.matches("c", &c));
        let dev = Target::parse("group:web.dev").unwrap();
        assert!(dev.matches("a", &a) && !dev.matches("b", &b));
        let webx = labels(&[("group", "webx")]);
        assert!(!web.matches("x", &webx));
        assert!(!Target::parse("zone:web").unwrap().matches("a", &a));
    }

    #[test]
    fn prefixes_of_a_dotted_value() {
        assert_eq!(
            label_prefixes("web.dev.us-east"),
            ["web", "web.dev", "web.dev.us-east"]
        );
        assert_eq!(label_prefixes("db"), ["db"]);
    }

    #[test]
    fn sanitizer_is_injective_and_subject_safe() {
        assert_eq!(sanitize_hostname("web-01"), "web-01");
        assert_ne!(sanitize_hostname("web.01"), sanitize_hostname("web_01"));
        let s = sanitize_hostname("a.b c*>/");
        assert!(s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'));
    }

    #[test]
    fn broadcast_forms() {
        assert!(Target::All.is_broadcast());
        assert!(Target::parse("g:x").unwrap().is_broadcast());
        assert!(!Target::Any.is_broadcast());
        assert!(!Target::Host("h".into()).is_broadcast());
    }
}
