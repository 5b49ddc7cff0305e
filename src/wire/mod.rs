//! Every type that crosses HTTP or NATS, shared by the controller, the agent, the SDK, the
//! CLI and the orchestrator: the operation catalogue ([`ops`]) with its requests, job data
//! and payloads, and the per-host answer shapes.
//!
//! Nothing here talks to NATS or the OS; this module only depends on `job` (kinds) and
//! `auth` (permissions).

pub mod agent;
pub mod audit;
pub mod events;
pub mod facts;
pub mod health;
pub mod job;
pub mod keys;
pub mod objects;
pub mod ops;
pub mod registry;
pub mod rules;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The standard node response: the job and one item per host.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Collection<T> {
    /// The job that produced these results.
    pub job_id: String,
    /// One item per host.
    pub results: Vec<T>,
}

impl<T> Collection<T> {
    /// The first host's item (the only one for a unicast target).
    pub fn first(&self) -> Option<&T> {
        self.results.first()
    }
}

/// How one host fared, on every per-host item (the latest original's `status`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum HostStatus {
    /// The host ran the operation (its payload may still report a failure of its own,
    /// as a command's non-zero exit).
    #[default]
    Ok,
    /// The host failed it, or did not answer in time; `error` says which.
    Failed,
    /// The operation does not apply on this host (a container, a missing subsystem);
    /// `error` says why. Nothing was changed.
    Skipped,
}

impl HostStatus {
    /// The status an item reported, or for one from a server that reports none (the seed
    /// era) what its error implies.
    pub fn of(reported: Option<HostStatus>, has_error: bool) -> Self {
        reported.unwrap_or(if has_error { Self::Failed } else { Self::Ok })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }
}

impl std::fmt::Display for HostStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Per-host item of a domain, built from an agent's result or its error, and read by
/// clients (the SDK, the orchestrator's guards, the CLI).
pub trait HostItem: Sized + Serialize {
    /// A successful result; `data` is the agent's JSON, `changed` its modify flag.
    fn from_data(hostname: &str, data: Value, changed: Option<bool>) -> Result<Self, String>;
    /// The items of one host's answer: one, or for a flattened listing (sysctl, cron: one
    /// item per entry, each repeating hostname and status) one per entry, none when empty.
    fn expand(hostname: &str, data: Value, changed: Option<bool>) -> Result<Vec<Self>, String> {
        Self::from_data(hostname, data, changed).map(|item| vec![item])
    }
    /// A host that failed, did not answer, or skipped the operation (`status` says which).
    fn from_error(hostname: &str, status: HostStatus, error: String) -> Self;
    /// How this host fared.
    fn status(&self) -> HostStatus;
    /// The agent that answered.
    fn hostname(&self) -> &str;
    /// Whether this host was modified (false when absent).
    fn changed(&self) -> bool;
    /// This host's error, if any. A payload may report a failure of its own (a command's
    /// non-zero exit is "exit code N"), unless there is a server error already.
    fn error(&self) -> Option<String>;
    /// Clients decode items leniently: a payload whose fields are all optional would decode
    /// from an error item too, so it is dropped where the host failed.
    fn drop_payload_if_failed(&mut self) {}
}

/// What one host answers for an operation.
pub trait Payload {
    /// The payload's own failure, if any (by default none).
    fn failure(&self) -> Option<String> {
        None
    }
}

impl Payload for Value {}

/// [`HostItem::expand`] of a flattened listing: `{"entries": [...]}` gives one item per
/// entry, made by `of` (none for a host with none); any other answer is one item.
pub fn expand_entries<I: HostItem, E: DeserializeOwned>(
    hostname: &str,
    data: Value,
    changed: Option<bool>,
    of: fn(&str, E) -> I,
) -> Result<Vec<I>, String> {
    let Value::Object(mut fields) = data else {
        return I::from_data(hostname, data, changed).map(|item| vec![item]);
    };
    let Some(entries) = fields.remove("entries") else {
        return I::from_data(hostname, Value::Object(fields), changed).map(|item| vec![item]);
    };
    let entries: Vec<E> =
        serde_json::from_value(entries).map_err(|e| format!("bad agent result: {e}"))?;
    Ok(entries.into_iter().map(|e| of(hostname, e)).collect())
}

/// The usual item: responder, the domain payload flattened in, `changed` and `error`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
// Option<T>'s default needs no `T: Default`.
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct HostResult<T> {
    /// The agent that answered.
    pub hostname: String,
    /// `ok`, `failed` or `skipped`; always sent by osapi, absent from seed-era servers
    /// (see [`HostItem::status`]).
    pub status: Option<HostStatus>,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub data: Option<T>,
    /// Whether the host was modified (false for reads).
    pub changed: Option<bool>,
    /// This host's error.
    pub error: Option<String>,
}

impl<T: DeserializeOwned + Serialize + Payload> HostItem for HostResult<T> {
    fn from_data(hostname: &str, data: Value, changed: Option<bool>) -> Result<Self, String> {
        let data = serde_json::from_value(data).map_err(|e| format!("bad agent result: {e}"))?;
        Ok(Self {
            hostname: hostname.to_owned(),
            status: Some(HostStatus::Ok),
            data: Some(data),
            changed: Some(changed.unwrap_or(false)),
            error: None,
        })
    }

    fn from_error(hostname: &str, status: HostStatus, error: String) -> Self {
        Self {
            hostname: hostname.to_owned(),
            status: Some(status),
            data: None,
            // A skipped host did nothing; a failed one may have done part of it.
            changed: (status == HostStatus::Skipped).then_some(false),
            error: Some(error),
        }
    }

    fn hostname(&self) -> &str {
        &self.hostname
    }

    fn status(&self) -> HostStatus {
        HostStatus::of(self.status, self.error.is_some())
    }

    fn changed(&self) -> bool {
        self.changed.unwrap_or(false)
    }

    fn error(&self) -> Option<String> {
        self.error
            .clone()
            .or_else(|| self.data.as_ref().and_then(Payload::failure))
    }

    fn drop_payload_if_failed(&mut self) {
        if self.error.is_some() {
            self.data = None;
        }
    }
}

/// The accessors of an item with its own `hostname`, `status`, `changed: Option<bool>`
/// and `error`.
#[macro_export]
macro_rules! flat_item_accessors {
    () => {
        fn hostname(&self) -> &str {
            &self.hostname
        }

        fn status(&self) -> $crate::wire::HostStatus {
            $crate::wire::HostStatus::of(self.status, self.error.is_some())
        }

        fn changed(&self) -> bool {
            self.changed.unwrap_or(false)
        }

        fn error(&self) -> Option<String> {
            self.error.clone()
        }
    };
}

/// A request field that failed a semantic check; the API answers 400 naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Semantic checks after a request parsed (ranges, IP syntax, one-of-two fields...).
pub trait Validate {
    fn validate(&self) -> Result<(), FieldError>;

    /// Optional fields of which `validate` requires at least one (given and not null);
    /// the API description states the rule from this list.
    const ONE_OF_REQUIRED: &'static [&'static str] = &[];
}

/// `@fact.<key>` with a key the agent knows how to resolve.
pub fn is_fact_ref(s: &str) -> bool {
    s.strip_prefix("@fact.").is_some_and(|key| {
        facts::BUILTIN_FACT_KEYS.iter().any(|(k, _)| *k == key)
            || key.strip_prefix("custom.").is_some_and(|k| !k.is_empty())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fact_refs() {
        assert!(is_fact_ref("@fact.interface.primary"));
        assert!(is_fact_ref("@fact.custom.rack"));
        assert!(is_fact_ref("@fact.containerized"));
        assert!(!is_fact_ref("@fact.custom."));
        assert!(!is_fact_ref("@fact.os"));
        assert!(!is_fact_ref("eth0"));
    }
}
