//! `schedule.cron.*`: scripts from the object store run by cron, either on a 5-field
//! schedule (`/etc/cron.d/osapi-<name>`) or from a periodic directory
//! (`/etc/cron.{hourly,daily,weekly,monthly}/osapi-<name>`). Listings are flattened, as the
//! original's: one item per entry, each with its host's name and status.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::file::{check_account, check_object_name};
use super::{Named, NoInput};
use crate::wire::rules::{one_of, Text};
use crate::wire::{FieldError, HostItem, HostResult, HostStatus, Payload, Validate};

/// A cron entry's name: 1-64 of `[A-Za-z0-9_-]`.
static NAME: Text = Text::new("^[A-Za-z0-9_-]+$", 1, 64);
crate::text_schemas!(NAME => name_schema, _, _, _);
crate::text_schemas!(super::file::OBJECT_NAME => object_schema, object_nullable, _, _);
crate::text_schemas!(super::file::ACCOUNT => _, user_schema, _, _);

fn content_type_schema() -> utoipa::openapi::schema::Object {
    one_of(&super::file::CONTENT_TYPES, true)
}

/// A cron operation: `$perm` on `$path`, answered with 200 (as the original).
macro_rules! cron_op {
    ($ty:ident, $name:literal, $kind:ident, $method:ident, $path:literal, $perm:ident,
     $summary:literal, $req:ty => $payload:ty => $item:ty $(; $($extra:tt)*)?) => {
        op!(
            #[doc = concat!("`", stringify!($method), " ", $path, "`.")]
            $ty, $name, $kind, $method, $path, $perm, "cron", $summary,
            $req => $req => $payload => $item;
            const ACCEPTED: bool = false;
            $($($extra)*)?
        );
    };
}

cron_op!(ScheduleCronList, "schedule.cron.list", Query, Get, "/node/{hostname}/schedule/cron",
    CronRead, "Cron entries osapi manages.", NoInput => CronList => CronItem);
cron_op!(ScheduleCronGet, "schedule.cron.get", Query, Get,
    "/node/{hostname}/schedule/cron/{name}", CronRead, "One managed cron entry.",
    CronName => CronEntry => CronItem);
cron_op!(ScheduleCronCreate, "schedule.cron.create", Modify, Post,
    "/node/{hostname}/schedule/cron", CronWrite,
    "Installs a script from the object store on a schedule or a periodic interval.",
    CronCreate => Named => HostResult<Named>;
    const STORED_OBJECT_FIELD: &'static str = "object";
    fn stored_object(request: &CronCreate) -> Option<&str> {
        Some(&request.object)
    }
);
cron_op!(ScheduleCronUpdate, "schedule.cron.update", Modify, Put,
    "/node/{hostname}/schedule/cron/{name}", CronWrite,
    "Changes a managed cron entry's script, schedule or user.",
    CronUpdate => Named => HostResult<Named>;
    const STORED_OBJECT_FIELD: &'static str = "object";
    fn stored_object(request: &CronUpdate) -> Option<&str> {
        request.object.as_deref()
    }
);
cron_op!(ScheduleCronDelete, "schedule.cron.delete", Modify, Delete,
    "/node/{hostname}/schedule/cron/{name}", CronWrite,
    "Removes a managed cron entry's files.", CronName => Named => HostResult<Named>);

/// The periodic directories of `/etc/cron.<interval>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Hourly,
    Daily,
    Weekly,
    Monthly,
}

impl Interval {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hourly => "hourly",
            Self::Daily => "daily",
            Self::Weekly => "weekly",
            Self::Monthly => "monthly",
        }
    }
}

/// One managed cron entry.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CronEntry {
    pub name: String,
    /// The object-store object the script comes from.
    pub object: String,
    /// 5-field cron expression (entries in `/etc/cron.d`).
    pub schedule: Option<String>,
    /// Periodic directory (entries in `/etc/cron.<interval>`).
    pub interval: Option<Interval>,
    /// `cron.d`, or the interval's name.
    pub source: String,
    /// The account a scheduled script runs as (`root` when not given).
    pub user: Option<String>,
}

impl Payload for CronEntry {}

/// `schedule.cron.list` result: every managed entry of one host.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CronList {
    pub entries: Vec<CronEntry>,
}

impl Payload for CronList {}

/// The name of `GET`/`DELETE /node/{hostname}/schedule/cron/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CronName {
    #[schema(schema_with = name_schema)]
    pub name: String,
}

impl Validate for CronName {
    fn validate(&self) -> Result<(), FieldError> {
        check_name(&self.name)
    }
}

/// Body of `POST /node/{hostname}/schedule/cron`.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CronCreate {
    /// 1-64 of `[A-Za-z0-9_-]`.
    #[schema(schema_with = name_schema)]
    pub name: String,
    /// The object-store object holding the script.
    #[schema(schema_with = object_schema)]
    pub object: String,
    /// 5-field cron expression; exactly one of `schedule` and `interval`.
    pub schedule: Option<String>,
    pub interval: Option<Interval>,
    /// Account a scheduled script runs as (default `root`); not for intervals, which
    /// `run-parts` runs as root.
    #[schema(schema_with = user_schema)]
    pub user: Option<String>,
    /// `raw` (default) or `template`.
    #[schema(schema_with = content_type_schema)]
    pub content_type: Option<String>,
    /// Template variables.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub vars: BTreeMap<String, Value>,
}

impl Validate for CronCreate {
    fn validate(&self) -> Result<(), FieldError> {
        check_name(&self.name)?;
        check_object(&self.object)?;
        match (&self.schedule, self.interval) {
            (Some(s), None) => check_schedule(s)?,
            (None, Some(_)) if self.user.is_some() => {
                return Err(FieldError::new(
                    "user",
                    "user applies to a schedule; run-parts runs interval scripts as root",
                ))
            }
            (None, Some(_)) => {}
            _ => {
                return Err(FieldError::new(
                    "schedule",
                    "give exactly one of schedule and interval",
                ))
            }
        }
        check_common(&self.user, &self.content_type)
    }
}

/// Body of `PUT /node/{hostname}/schedule/cron/{name}`: at least one field. An entry's
/// placement (schedule or interval) cannot change.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CronUpdate {
    #[schema(schema_with = name_schema)]
    pub name: String,
    #[schema(schema_with = object_nullable)]
    pub object: Option<String>,
    pub schedule: Option<String>,
    #[schema(schema_with = user_schema)]
    pub user: Option<String>,
    #[schema(schema_with = content_type_schema)]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schema(value_type = Object)]
    pub vars: BTreeMap<String, Value>,
}

impl Validate for CronUpdate {
    fn validate(&self) -> Result<(), FieldError> {
        check_name(&self.name)?;
        let any = self.object.is_some()
            || self.schedule.is_some()
            || self.user.is_some()
            || self.content_type.is_some()
            || !self.vars.is_empty();
        if !any {
            return Err(FieldError::new(
                "body",
                "at least one field must be provided",
            ));
        }
        if let Some(o) = &self.object {
            check_object(o)?;
        }
        if let Some(s) = &self.schedule {
            check_schedule(s)?;
        }
        check_common(&self.user, &self.content_type)
    }
}

/// Entry names: they become file names in cron's directories, which `run-parts` and cron
/// only read when made of `[A-Za-z0-9_-]`.
fn check_name(name: &str) -> Result<(), FieldError> {
    if NAME.matches(name) {
        Ok(())
    } else {
        Err(FieldError::new(
            "name",
            format!("{name:?} is not a cron entry name: 1-64 of A-Z a-z 0-9 _ -"),
        ))
    }
}

fn check_object(object: &str) -> Result<(), FieldError> {
    check_object_name(object).map_err(|e| FieldError::new("object", e))
}

fn check_common(user: &Option<String>, content_type: &Option<String>) -> Result<(), FieldError> {
    if let Some(u) = user {
        check_account(u).map_err(|e| FieldError::new("user", e))?;
    }
    match content_type.as_deref() {
        None => Ok(()),
        Some(t) if super::file::CONTENT_TYPES.contains(&t) => Ok(()),
        Some(_) => Err(FieldError::new(
            "content_type",
            "content_type must be raw or template",
        )),
    }
}

/// The range of each of the five fields, with the names cron accepts for months and days.
const FIELDS: [(&str, u32, u32, &[&str]); 5] = [
    ("minute", 0, 59, &[]),
    ("hour", 0, 23, &[]),
    ("day of month", 1, 31, &[]),
    (
        "month",
        1,
        12,
        &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ],
    ),
    (
        "day of week",
        0,
        7,
        &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    ),
];

/// A 5-field cron expression (`*/5 * * * *`, `0 2 1-15 jan,jul mon-fri`): the schedule
/// is written into a cron.d line, so nothing but those fields may pass.
pub fn check_schedule(schedule: &str) -> Result<(), FieldError> {
    let bad = |why: String| {
        FieldError::new(
            "schedule",
            format!("{schedule:?} is not a 5-field cron schedule: {why}"),
        )
    };
    let fields: Vec<&str> = schedule.split(' ').filter(|f| !f.is_empty()).collect();
    if schedule.chars().any(|c| c != ' ' && !c.is_ascii_graphic()) || fields.len() != 5 {
        return Err(bad("five space-separated fields, on one line".into()));
    }
    for (field, (what, lo, hi, names)) in fields.iter().zip(FIELDS) {
        for part in field.split(',') {
            check_part(part, lo, hi, names).map_err(|why| bad(format!("{what}: {why}")))?;
        }
    }
    Ok(())
}

/// One comma-separated part of a field: `*`, `N`, `N-M`, each optionally `/step`.
fn check_part(part: &str, lo: u32, hi: u32, names: &[&str]) -> Result<(), String> {
    let (range, step) = match part.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (part, None),
    };
    if let Some(s) = step {
        s.parse::<u32>()
            .ok()
            .filter(|n| (1..=hi.max(1)).contains(n))
            .ok_or_else(|| format!("bad step {s:?}"))?;
    }
    if range == "*" {
        return Ok(());
    }
    let value = |v: &str| {
        let n = names
            .iter()
            .position(|name| name.eq_ignore_ascii_case(v))
            .map(|i| i as u32 + lo)
            .or_else(|| v.parse().ok());
        n.filter(|n| (lo..=hi).contains(n))
            .ok_or_else(|| format!("{v:?} is not in {lo}-{hi}"))
    };
    match range.split_once('-') {
        Some((a, b)) if value(a)? <= value(b)? => Ok(()),
        Some(_) => Err(format!("empty range {range:?}")),
        None => value(range).map(|_| ()),
    }
}

/// One entry of one host (list and get), or the host's error.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CronItem {
    pub hostname: String,
    pub status: Option<HostStatus>,
    #[serde(flatten, default, skip_serializing_if = "Option::is_none")]
    pub entry: Option<CronEntry>,
    pub changed: Option<bool>,
    pub error: Option<String>,
}

fn bad_result(e: serde_json::Error) -> String {
    format!("bad agent result: {e}")
}

impl CronItem {
    fn of(hostname: &str, entry: CronEntry) -> Self {
        Self {
            hostname: hostname.to_owned(),
            status: Some(HostStatus::Ok),
            entry: Some(entry),
            changed: None,
            error: None,
        }
    }
}

impl HostItem for CronItem {
    fn from_data(hostname: &str, data: Value, _changed: Option<bool>) -> Result<Self, String> {
        let entry: CronEntry = serde_json::from_value(data).map_err(bad_result)?;
        Ok(Self::of(hostname, entry))
    }

    /// A listing contributes one item per entry; a host with none, no item.
    fn expand(hostname: &str, data: Value, changed: Option<bool>) -> Result<Vec<Self>, String> {
        crate::wire::expand_entries(hostname, data, changed, Self::of)
    }

    fn from_error(hostname: &str, status: HostStatus, error: String) -> Self {
        Self {
            hostname: hostname.to_owned(),
            status: Some(status),
            entry: None,
            changed: None,
            error: Some(error),
        }
    }

    crate::flat_item_accessors!();

    fn drop_payload_if_failed(&mut self) {
        if self.error.is_some() {
            self.entry = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        for good in [
            "*/5 * * * *",
            "0 2 * * *",
            "0 2 1-15 jan,jul mon-fri",
            "30  4 * * 7",
            "0 0 */2 * SUN",
        ] {
            assert!(check_schedule(good).is_ok(), "{good:?}");
        }
        for bad in [
            "* * * *",
            "* * * * * *",
            "60 * * * *",
            "* * * * *\n* * * * * root rm -rf /",
            "* * * * *\t",
            "5-1 * * * *",
            "*/0 * * * *",
            "@reboot",
            "* * * foo *",
        ] {
            let e = check_schedule(bad).unwrap_err();
            assert_eq!(e.field, "schedule", "{bad:?}");
        }
    }

    #[test]
    fn names_and_bodies() {
        let create = |name: &str, schedule: Option<&str>, interval| CronCreate {
            name: name.into(),
            object: "backup.sh".into(),
            schedule: schedule.map(Into::into),
            interval,
            ..Default::default()
        };
        assert!(create("backup_1", Some("0 2 * * *"), None)
            .validate()
            .is_ok());
        assert!(create("rotate", None, Some(Interval::Daily))
            .validate()
            .is_ok());
        for (c, field) in [
            (create("../x", Some("0 2 * * *"), None), "name"),
            (create("a.b", Some("0 2 * * *"), None), "name"),
            (create("x", None, None), "schedule"),
            (
                create("x", Some("0 2 * * *"), Some(Interval::Daily)),
                "schedule",
            ),
        ] {
            assert_eq!(c.validate().unwrap_err().field, field, "{c:?}");
        }
        let empty = CronUpdate {
            name: "x".into(),
            ..Default::default()
        };
        assert_eq!(empty.validate().unwrap_err().field, "body");
    }
}
