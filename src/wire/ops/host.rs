//! Host settings: hostname and time zone updates, scheduled reboot and shutdown.

use serde::{Deserialize, Serialize};

pub use super::Changed;
use crate::wire::rules::{Text, HOST_NAME};
use crate::wire::{FieldError, HostResult, Payload, Validate};

crate::text_schemas!(HOST_NAME => hostname_schema, _, _, _);

/// A time zone name: `/`-separated parts of `[A-Za-z0-9_+-]` (no `.`, so no `..`).
static ZONE_NAME: Text = Text::new("^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$", 1, 64);
crate::text_schemas!(ZONE_NAME => zone_schema, _, _, _);

/// A power message: one line, no control characters.
static POWER_MESSAGE: Text = Text::new(r"^[^\x00-\x1f\x7f-\x9f]*$", 0, 256);
crate::text_schemas!(POWER_MESSAGE => _, message_schema, _, _);

op!(
    /// `PUT /node/{hostname}/hostname` (202, as the original).
    NodeHostnameUpdate, "node.hostname.update", Modify, Put, "/node/{hostname}/hostname", NodeWrite,
    "node", "Sets the static hostname of the target's hosts.",
    HostnameUpdateRequest => HostnameUpdateRequest => Changed => HostResult<Changed>
);
op!(
    /// `PUT /node/{hostname}/timezone`.
    NodeTimezoneUpdate, "node.timezone.update", Modify, Put, "/node/{hostname}/timezone",
    TimezoneWrite, "node", "Sets the system time zone (an IANA name).",
    TimezoneUpdateRequest => TimezoneUpdateRequest => TimezoneUpdatePayload
        => HostResult<TimezoneUpdatePayload>;
    const ACCEPTED: bool = false;
);
/// A scheduled power change: `POST`, `power:execute`, answered with 200 at once.
macro_rules! power_op {
    ($ty:ident, $name:literal, $path:literal, $summary:literal) => {
        op!(
            #[doc = concat!("`POST ", $path, "`.")]
            $ty, $name, Modify, Post, $path, PowerExecute, "node", $summary,
            PowerRequest => PowerRequest => PowerPayload => HostResult<PowerPayload>;
            const ACCEPTED: bool = false;
        );
    };
}

power_op!(
    NodePowerReboot,
    "node.power.reboot",
    "/node/{hostname}/power/reboot",
    "Schedules a reboot; the answer comes before the host goes down."
);
power_op!(
    NodePowerShutdown,
    "node.power.shutdown",
    "/node/{hostname}/power/shutdown",
    "Schedules a shutdown; the answer comes before the host goes down."
);

/// A request body of one string field, checked by `$check` (a 400 naming the field).
macro_rules! one_field_request {
    ($(#[$doc:meta])* $ty:ident { $(#[$fdoc:meta])* $field:ident } checked by $check:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct $ty {
            $(#[$fdoc])*
            pub $field: String,
        }

        impl Validate for $ty {
            fn validate(&self) -> Result<(), FieldError> {
                $check(&self.$field)
            }
        }
    };
}

one_field_request!(
    /// Body of `PUT /node/{hostname}/hostname`, and its job data.
    HostnameUpdateRequest {
        /// The new static hostname (RFC 1123: labels of letters, digits and inner hyphens).
        #[schema(schema_with = hostname_schema)]
        hostname
    } checked by check_new_hostname
);
one_field_request!(
    /// Body of `PUT /node/{hostname}/timezone`, and its job data.
    TimezoneUpdateRequest {
        /// An IANA zone name (`Europe/Berlin`, `UTC`); each host checks its zoneinfo.
        #[schema(schema_with = zone_schema)]
        timezone
    } checked by check_zone_name
);

/// RFC 1123 names: what every resolver and DHCP client accepts.
fn check_new_hostname(name: &str) -> Result<(), FieldError> {
    if !HOST_NAME.matches(name) {
        return Err(FieldError::new(
                "hostname",
                format!("{name:?} is not a hostname: use labels of letters, digits and inner hyphens, at most 63 each and 253 in all"),
            ));
    }
    Ok(())
}

/// A relative path of name parts inside zoneinfo: no way out of it.
fn check_zone_name(zone: &str) -> Result<(), FieldError> {
    if !ZONE_NAME.matches(zone) {
        return Err(FieldError::new(
            "timezone",
            format!("{zone:?} is not a time zone name such as Europe/Berlin or UTC"),
        ));
    }
    Ok(())
}

/// `node.timezone.update` result: the zone now set.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TimezoneUpdatePayload {
    pub timezone: String,
}

impl Payload for TimezoneUpdatePayload {}

/// Body of `POST /node/{hostname}/power/{reboot,shutdown}`, and its job data.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PowerRequest {
    /// Seconds from now, rounded up to whole minutes (at least one); default 0.
    #[schema(maximum = 604_800)]
    pub delay: Option<u64>,
    /// Shown to logged-in users.
    #[schema(schema_with = message_schema)]
    pub message: Option<String>,
}

/// The longest delay accepted: a week.
const MAX_POWER_DELAY: u64 = 7 * 24 * 3600;

impl Validate for PowerRequest {
    fn validate(&self) -> Result<(), FieldError> {
        if self.delay.is_some_and(|d| d > MAX_POWER_DELAY) {
            return Err(FieldError::new(
                "delay",
                format!("delay is at most {MAX_POWER_DELAY} seconds (a week)"),
            ));
        }
        let bad_message = self
            .message
            .as_ref()
            .is_some_and(|m| !POWER_MESSAGE.matches(m));
        if bad_message {
            return Err(FieldError::new(
                "message",
                "message is one line of at most 256 characters",
            ));
        }
        Ok(())
    }
}

/// `node.power.*` result: what was scheduled, and in how many seconds.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PowerPayload {
    /// `reboot` or `shutdown`.
    pub action: String,
    /// Seconds until it happens (whole minutes).
    pub delay: u64,
}

impl Payload for PowerPayload {}

#[cfg(test)]
mod tests {
    use super::*;

    /// `check` passes every `good` value and rejects every `bad` one naming `field`.
    fn sorts(check: fn(&str) -> Result<(), FieldError>, good: &[&str], bad: &[&str], field: &str) {
        for g in good {
            assert!(check(g).is_ok(), "{g:?} refused");
        }
        for b in bad {
            assert_eq!(check(b).map_err(|e| e.field), Err(field.into()), "{b:?}");
        }
    }

    #[test]
    fn hostnames_follow_rfc_1123() {
        let long = "a".repeat(63);
        let good = ["web-01", "a", "web-01.example.com", &long];
        let too_long = "a".repeat(64);
        let bad = [
            "", "-web", "web-", "web_01", "a..b", "web 01", "x\ny", &too_long,
        ];
        sorts(check_new_hostname, &good, &bad, "hostname");
    }

    #[test]
    fn zone_names_cannot_escape_zoneinfo() {
        let good = [
            "UTC",
            "Europe/Berlin",
            "America/Argentina/Buenos_Aires",
            "Etc/GMT+5",
        ];
        let bad = [
            "",
            "/etc/passwd",
            "../../etc/shadow",
            "Europe/../UTC",
            "A B",
            "Europe//X",
        ];
        sorts(check_zone_name, &good, &bad, "timezone");
    }

    #[test]
    fn power_requests_are_bounded() {
        assert!(PowerRequest::default().validate().is_ok());
        let late = PowerRequest {
            delay: Some(MAX_POWER_DELAY + 1),
            ..Default::default()
        };
        assert_eq!(late.validate().unwrap_err().field, "delay");
        let two_lines = PowerRequest {
            message: Some("a\nb".into()),
            ..Default::default()
        };
        assert_eq!(two_lines.validate().unwrap_err().field, "message");
    }
}
