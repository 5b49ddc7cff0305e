//! `node.service.*`: systemd services (list, get, start, stop, restart, enable, disable)
//! and the unit files osapi manages (`/etc/systemd/system/osapi-<name>.service`, content
//! from the object store).

use serde::{Deserialize, Serialize};

use super::file::check_object_name;
use super::{Named, NoInput};
use crate::wire::rules::Text;
use crate::wire::{FieldError, HostResult, Payload, Validate};

/// A systemd unit name: `[A-Za-z0-9_@.:-]`, not starting with `.` or `-`, no `..`.
pub static UNIT_NAME: Text = Text::new(
    r"^[A-Za-z0-9_@:][A-Za-z0-9_@:-]*(\.[A-Za-z0-9_@:-]+)*\.?$",
    1,
    200,
);
crate::text_schemas!(UNIT_NAME => name_schema, _, _, _);
crate::text_schemas!(super::file::OBJECT_NAME => object_schema, _, _, _);

/// A service operation, answered with 200 (as the original).
macro_rules! service_op {
    ($ty:ident, $name:literal, $kind:ident, $method:ident, $path:literal, $perm:ident,
     $summary:literal, $req:ty => $payload:ty $(; $($extra:tt)*)?) => {
        op!(
            #[doc = concat!("`", stringify!($method), " ", $path, "`.")]
            $ty, $name, $kind, $method, $path, $perm, "service", $summary,
            $req => $req => $payload => HostResult<$payload>;
            const ACCEPTED: bool = false;
            $($($extra)*)?
        );
    };
}

/// The unit file's content comes from `object`, which must have been uploaded.
macro_rules! unit_object {
    () => {
        const STORED_OBJECT_FIELD: &'static str = "object";
        fn stored_object(request: &ServiceUnit) -> Option<&str> {
            Some(&request.object)
        }
    };
}

service_op!(NodeServiceList, "node.service.list", Query, Get, "/node/{hostname}/service",
    ServiceRead, "systemd services with their state.", NoInput => ServiceList);
service_op!(NodeServiceGet, "node.service.get", Query, Get, "/node/{hostname}/service/{name}",
    ServiceRead, "One systemd service.", ServiceName => ServiceGet);
service_op!(NodeServiceCreate, "node.service.create", Modify, Post, "/node/{hostname}/service",
    ServiceWrite, "Installs a unit file osapi-<name>.service from the object store.",
    ServiceUnit => Named; unit_object!(););
service_op!(NodeServiceUpdate, "node.service.update", Modify, Put,
    "/node/{hostname}/service/{name}", ServiceWrite, "Replaces a managed unit file.",
    ServiceUnit => Named; unit_object!(););
service_op!(NodeServiceDelete, "node.service.delete", Modify, Delete,
    "/node/{hostname}/service/{name}", ServiceWrite,
    "Stops, disables and removes a managed unit file.", ServiceName => Named);
service_op!(NodeServiceStart, "node.service.start", Modify, Post,
    "/node/{hostname}/service/{name}/start", ServiceWrite, "Starts a service.",
    ServiceName => Named);
service_op!(NodeServiceStop, "node.service.stop", Modify, Post,
    "/node/{hostname}/service/{name}/stop", ServiceWrite, "Stops a service.",
    ServiceName => Named);
service_op!(NodeServiceRestart, "node.service.restart", Modify, Post,
    "/node/{hostname}/service/{name}/restart", ServiceWrite, "Restarts a service.",
    ServiceName => Named);
service_op!(NodeServiceEnable, "node.service.enable", Modify, Post,
    "/node/{hostname}/service/{name}/enable", ServiceWrite, "Enables a service at boot.",
    ServiceName => Named);
service_op!(NodeServiceDisable, "node.service.disable", Modify, Post,
    "/node/{hostname}/service/{name}/disable", ServiceWrite, "Disables a service at boot.",
    ServiceName => Named);

/// One systemd service.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ServiceInfo {
    /// The unit name: `nginx.service`.
    pub name: String,
    /// systemd's ActiveState: `active`, `inactive`, `failed`, ...
    pub status: String,
    /// Started at boot (UnitFileState `enabled`).
    pub enabled: bool,
    pub description: Option<String>,
    /// The main process, while there is one.
    pub pid: Option<u32>,
}

/// `node.service.list` result.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ServiceList {
    #[serde(default)]
    pub services: Vec<ServiceInfo>,
}

impl Payload for ServiceList {}

/// `node.service.get` result.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ServiceGet {
    pub service: ServiceInfo,
}

impl Payload for ServiceGet {}

/// A service by name: the `{name}` of the reads and actions. A name without a unit
/// suffix means its `.service`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceName {
    #[schema(schema_with = name_schema)]
    pub name: String,
}

impl Validate for ServiceName {
    fn validate(&self) -> Result<(), FieldError> {
        check_unit(&self.name)
    }
}

/// Body of `POST .../service` (with `name`) and `PUT .../service/{name}`: the unit file
/// `osapi-<name>.service` gets `object`'s content (rendered when it was uploaded as a
/// template).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceUnit {
    #[schema(schema_with = name_schema)]
    pub name: String,
    #[schema(schema_with = object_schema)]
    pub object: String,
}

impl Validate for ServiceUnit {
    fn validate(&self) -> Result<(), FieldError> {
        check_unit(&self.name)?;
        check_object_name(&self.object).map_err(|e| FieldError::new("object", e))
    }
}

/// Unit names as systemd spells them (`[A-Za-z0-9_@.:-]`), not starting with `.` or `-`
/// and without `..`: the name is a file name under `/etc/systemd/system` and an argument
/// of systemctl.
pub fn check_unit(name: &str) -> Result<(), FieldError> {
    if UNIT_NAME.matches(name) {
        Ok(())
    } else {
        Err(FieldError::new(
            "name",
            format!("{name:?} is not a systemd unit name such as nginx.service"),
        ))
    }
}

/// `name` as a unit: `.service` added when it has no unit suffix.
pub fn unit_name(name: &str) -> String {
    const SUFFIXES: [&str; 4] = [".service", ".socket", ".timer", ".target"];
    if SUFFIXES.iter().any(|s| name.ends_with(s)) {
        name.to_owned()
    } else {
        format!("{name}.service")
    }
}

/// The managed unit of `name`: `osapi-<name>.service` (`name` without its `.service`).
pub fn managed_unit(name: &str) -> String {
    let base = name.strip_suffix(".service").unwrap_or(name);
    format!("osapi-{base}.service")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_names() {
        for good in [
            "nginx",
            "nginx.service",
            "getty@tty1.service",
            "dev-sda1.swap",
        ] {
            assert!(check_unit(good).is_ok(), "{good:?}");
        }
        for bad in ["", "../etc/x", "a/b", ".hidden", "-x", "a b", "x;id", "x\n"] {
            assert_eq!(check_unit(bad).unwrap_err().field, "name", "{bad:?}");
        }
        assert_eq!(unit_name("nginx"), "nginx.service");
        assert_eq!(unit_name("ssh.socket"), "ssh.socket");
        assert_eq!(managed_unit("web.service"), "osapi-web.service");
        assert_eq!(managed_unit("web"), "osapi-web.service");
    }
}
