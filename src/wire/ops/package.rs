//! `node.package.*`: installed Debian packages (`dpkg-query`), installs and removals
//! (`apt-get`), the package index and the updates it offers.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Changed, Named, NoInput};
use crate::wire::rules::Text;
use crate::wire::{FieldError, HostResult, Payload, Validate};

/// A Debian package name (2-128 of `[a-z0-9+.-]`, a letter or digit first), with an
/// optional `:architecture` (1-32 of `[a-z0-9-]`).
pub static PACKAGE_NAME: Text =
    Text::new("^[a-z0-9][a-z0-9+.-]{1,127}(:[a-z0-9-]{1,32})?$", 2, 161);
crate::text_schemas!(PACKAGE_NAME => name_schema, _, _, _);

/// How long an install, removal or index refresh may take on a host; the caller's wait
/// covers it, and the agent keeps the job alive with progress acks meanwhile.
pub const APT_TIMEOUT: Duration = Duration::from_secs(600);

/// A package operation, answered with 200 (as the original).
macro_rules! package_op {
    ($ty:ident, $name:literal, $kind:ident, $method:ident, $path:literal, $perm:ident,
     $summary:literal, $req:ty => $payload:ty $(; $($extra:tt)*)?) => {
        op!(
            #[doc = concat!("`", stringify!($method), " ", $path, "`.")]
            $ty, $name, $kind, $method, $path, $perm, "package", $summary,
            $req => $req => $payload => HostResult<$payload>;
            const ACCEPTED: bool = false;
            $($($extra)*)?
        );
    };
}

/// The time limit of an apt run.
macro_rules! apt_limit {
    ($data:ty) => {
        fn time_limit(_data: &$data) -> Option<Duration> {
            Some(APT_TIMEOUT)
        }
    };
}

package_op!(NodePackageList, "node.package.list", Query, Get, "/node/{hostname}/package",
    PackageRead, "Installed packages (dpkg).", NoInput => PackageList);
package_op!(NodePackageGet, "node.package.get", Query, Get, "/node/{hostname}/package/{name}",
    PackageRead, "One installed package.", PackageName => PackageList);
package_op!(NodePackageInstall, "node.package.install", Modify, Post,
    "/node/{hostname}/package", PackageWrite,
    "Installs a package (apt-get, noninteractive); an installed one is left as it is.",
    PackageName => Named; apt_limit!(PackageName););
package_op!(NodePackageRemove, "node.package.remove", Modify, Delete,
    "/node/{hostname}/package/{name}", PackageWrite,
    "Removes a package (apt-get); one not installed is nothing to do.",
    PackageName => Named; apt_limit!(PackageName););
package_op!(NodePackageUpdate, "node.package.update", Modify, Post,
    "/node/{hostname}/package/update", PackageWrite, "Refreshes the package index (apt-get update).",
    NoInput => Changed; apt_limit!(NoInput););
package_op!(NodePackageListUpdates, "node.package.listUpdates", Query, Get,
    "/node/{hostname}/package/update", PackageRead, "Packages with a newer version available.",
    NoInput => UpdateList);

/// One installed package.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PackageInfo {
    pub name: String,
    pub version: String,
    pub description: Option<String>,
    /// Always `installed`.
    pub status: String,
    /// Installed size in bytes.
    pub size: Option<u64>,
}

/// List and get result: the host's installed packages (one for get).
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PackageList {
    #[serde(default)]
    pub packages: Vec<PackageInfo>,
}

impl Payload for PackageList {}

/// A package with a newer version in the index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpdateInfo {
    pub name: String,
    pub current_version: String,
    pub new_version: String,
}

/// `node.package.listUpdates` result.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UpdateList {
    #[serde(default)]
    pub updates: Vec<UpdateInfo>,
}

impl Payload for UpdateList {}

/// A package by name: the body of `POST .../package`, the `{name}` of the others.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackageName {
    #[schema(schema_with = name_schema)]
    pub name: String,
}

impl Validate for PackageName {
    fn validate(&self) -> Result<(), FieldError> {
        check_package(&self.name)
    }
}

/// Debian package names (`[a-z0-9][a-z0-9+.-]+`), optionally `:arch`: the name is an
/// argument of apt-get, so it may not start an option or carry anything else.
pub fn check_package(name: &str) -> Result<(), FieldError> {
    if PACKAGE_NAME.matches(name) {
        Ok(())
    } else {
        Err(FieldError::new(
            "name",
            format!("{name:?} is not a Debian package name such as nginx or libc6:amd64"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_names() {
        for good in ["nginx", "libc6:amd64", "g++", "python3.11", "0ad"] {
            assert!(check_package(good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "a",
            "-y",
            "nginx; rm -rf /",
            "Nginx",
            "a b",
            "$(id)",
            "x:",
            "a/b",
            "../x",
            "nginx\n",
        ] {
            assert_eq!(check_package(bad).unwrap_err().field, "name", "{bad:?}");
        }
    }
}
