//! `node.log.*`: the systemd journal, read through `journalctl`.

use serde::{Deserialize, Serialize};

use super::NoInput;
use crate::wire::rules::Text;
use crate::wire::{FieldError, HostResult, Payload, Validate};

/// A journalctl time: one line of at most 64 characters, not blank.
static SINCE: Text = Text::new(
    r"^[^\x00-\x1f\x7f-\x9f]*[^\x00-\x20\x7f-\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000][^\x00-\x1f\x7f-\x9f]*$",
    1,
    64,
);

/// A unit name as journalctl's `-u` takes it (escaped names keep their `\`).
static UNIT: Text = Text::new(r"^[A-Za-z0-9:_.@\\][A-Za-z0-9:_.@\\-]*$", 1, 256);
crate::text_schemas!(UNIT => unit_schema, _, _, _);

/// A journal query on `$path`: `lines`, `since` and `priority` from the URL's query.
macro_rules! log_op {
    ($ty:ident, $name:literal, $path:literal, $summary:literal, $req:ty => $payload:ty) => {
        op!(
            #[doc = concat!("`GET ", $path, "`.")]
            $ty, $name, Query, Get, $path, LogRead, "log", $summary,
            $req => $req => $payload => HostResult<$payload>;
            const QUERY: bool = true;

            fn query_parameters() -> Vec<utoipa::openapi::path::Parameter> {
                <LogQuery as utoipa::IntoParams>::into_params(|| {
                    Some(utoipa::openapi::path::ParameterIn::Query)
                })
            }
        );
    };
}

log_op!(NodeLogQuery, "node.log.query", "/node/{hostname}/log",
    "The newest journal entries (lines, since, priority).", LogQuery => LogEntries);
op!(
    /// `GET /node/{hostname}/log/source`.
    NodeLogSources, "node.log.sources", Query, Get, "/node/{hostname}/log/source", LogRead, "log",
    "Every SYSLOG_IDENTIFIER in the journal, sorted.",
    NoInput => NoInput => LogSources => HostResult<LogSources>
);
log_op!(NodeLogUnit, "node.log.queryUnit", "/node/{hostname}/log/unit/{name}",
    "The newest journal entries of one systemd unit.", LogUnitQuery => LogEntries);

/// Entries a query returns unless it asks for another number.
pub const DEFAULT_LINES: u32 = 100;
/// The most entries one query may ask for.
pub const MAX_LINES: u32 = 10_000;

fn since_schema() -> utoipa::openapi::schema::Object {
    SINCE.schema()
}

fn priority_schema() -> utoipa::openapi::schema::Object {
    crate::wire::rules::one_of(&PRIORITIES, false)
}
/// journalctl's priority names, most severe first (index = syslog level).
pub const PRIORITIES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

/// `?lines=&since=&priority=` of `GET .../log` and `.../log/unit/{name}`.
#[serde_with::skip_serializing_none]
#[derive(
    Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema, utoipa::IntoParams,
)]
pub struct LogQuery {
    /// 1 to 10000 (default 100).
    #[serde(default, deserialize_with = "super::opt_int_or_text")]
    #[param(minimum = 1, maximum = 10_000)]
    pub lines: Option<u32>,
    /// Passed to `journalctl --since` (`2024-01-01 10:00:00`, `1 hour ago`, `today`).
    #[param(schema_with = since_schema)]
    pub since: Option<String>,
    /// `emerg` ... `debug`: this level and the more severe ones.
    #[param(schema_with = priority_schema)]
    pub priority: Option<String>,
}

impl LogQuery {
    /// The number of entries asked for.
    pub fn lines(&self) -> u32 {
        self.lines.unwrap_or(DEFAULT_LINES)
    }
}

impl Validate for LogQuery {
    fn validate(&self) -> Result<(), FieldError> {
        if !(1..=MAX_LINES).contains(&self.lines()) {
            return Err(FieldError::new(
                "lines",
                format!("lines must be between 1 and {MAX_LINES}"),
            ));
        }
        if let Some(since) = &self.since {
            if !SINCE.matches(since) {
                return Err(FieldError::new(
                    "since",
                    "since is a journalctl time of at most 64 characters (\"1 hour ago\", \"2024-01-01 10:00\")",
                ));
            }
        }
        if let Some(p) = &self.priority {
            if !PRIORITIES.contains(&p.as_str()) {
                return Err(FieldError::new(
                    "priority",
                    format!("unknown priority {p:?}: one of {}", PRIORITIES.join(", ")),
                ));
            }
        }
        Ok(())
    }
}

/// `GET .../log/unit/{name}`: the unit from the path, the query beside it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogUnitQuery {
    /// The unit (`ssh.service`, `cron`).
    #[schema(schema_with = unit_schema)]
    pub name: String,
    #[serde(flatten)]
    pub query: LogQuery,
}

impl Validate for LogUnitQuery {
    fn validate(&self) -> Result<(), FieldError> {
        if !UNIT.matches(&self.name) {
            return Err(FieldError::new(
                "name",
                format!("{:?} is not a systemd unit name", self.name),
            ));
        }
        self.query.validate()
    }
}

/// One journal entry, as the original's `LogEntryInfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogEntry {
    /// RFC 3339 with nanoseconds, UTC.
    pub timestamp: String,
    /// SYSLOG_IDENTIFIER.
    pub unit: String,
    /// `emerg` ... `debug`.
    pub priority: String,
    pub message: String,
    pub pid: i64,
    pub hostname: String,
}

/// `node.log.query` and `node.log.queryUnit` result, oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogEntries {
    pub entries: Vec<LogEntry>,
}

/// `node.log.sources` result.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogSources {
    pub sources: Vec<String>,
}

impl Payload for LogEntries {}
impl Payload for LogSources {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_checked_field_by_field() {
        let q: LogQuery =
            serde_json::from_str(r#"{"lines":"50","priority":"err","since":"1 hour ago"}"#)
                .unwrap();
        assert!(q.validate().is_ok());
        assert_eq!(q.lines(), 50);
        assert_eq!(LogQuery::default().lines(), DEFAULT_LINES);
        let bad = |q: LogQuery| q.validate().unwrap_err().field;
        let lines = |n| LogQuery {
            lines: Some(n),
            ..Default::default()
        };
        assert_eq!(bad(lines(0)), "lines");
        assert_eq!(bad(lines(10_001)), "lines");
        let priority = LogQuery {
            priority: Some("error".into()),
            ..Default::default()
        };
        assert_eq!(bad(priority), "priority");
        let since = LogQuery {
            since: Some("today\n--unit=x".into()),
            ..Default::default()
        };
        assert_eq!(bad(since), "since");
        let unit = |name: &str| LogUnitQuery {
            name: name.into(),
            query: LogQuery::default(),
        };
        assert!(unit("getty@tty1.service").validate().is_ok());
        for name in ["", "-x", "a/b", "a b"] {
            assert_eq!(unit(name).validate().unwrap_err().field, "name", "{name:?}");
        }
        let unit: LogUnitQuery = serde_json::from_str(r#"{"name":"cron","lines":"5"}"#).unwrap();
        assert_eq!(unit.query.lines, Some(5));
    }
}
