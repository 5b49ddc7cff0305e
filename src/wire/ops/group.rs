//! `node.group.*`: local groups, read from the group database under the agent's system
//! root and changed with the shadow tools (`groupadd`, `gpasswd`, `groupdel`).

use serde::{Deserialize, Serialize};

use super::NoInput;
use crate::wire::rules::Text;
use crate::wire::{FieldError, HostResult, Payload, Validate};

/// A user or group name as the shadow tools accept it and no option can be mistaken for.
pub static ACCOUNT_NAME: Text = Text::new("^[a-z_][a-z0-9_-]*$", 1, 32);
crate::text_schemas!(ACCOUNT_NAME => name_schema, _, names_schema, _);

/// A group operation guarded by `$perm`, answered with 200 (as the original).
macro_rules! group_op {
    ($ty:ident, $name:literal, $kind:ident, $method:ident, $path:literal, $perm:ident,
     $summary:literal, $req:ty => $payload:ty) => {
        op!(
            #[doc = concat!("`", stringify!($method), " ", $path, "`.")]
            $ty, $name, $kind, $method, $path, $perm, "group", $summary,
            $req => $req => $payload => HostResult<$payload>;
            const ACCEPTED: bool = false;
        );
    };
}

group_op!(NodeGroupList, "node.group.list", Query, Get, "/node/{hostname}/group", UserRead,
    "Local groups with their members.", NoInput => GroupList);
group_op!(NodeGroupGet, "node.group.get", Query, Get, "/node/{hostname}/group/{name}", UserRead,
    "One local group.", GroupName => GroupList);
group_op!(NodeGroupCreate, "node.group.create", Modify, Post, "/node/{hostname}/group",
    UserWrite, "Creates a local group (groupadd).", GroupCreate => Named);
group_op!(NodeGroupUpdate, "node.group.update", Modify, Put, "/node/{hostname}/group/{name}",
    UserWrite, "Replaces a group's members (gpasswd -M).", GroupMembers => Named);
group_op!(NodeGroupDelete, "node.group.delete", Modify, Delete,
    "/node/{hostname}/group/{name}", UserWrite, "Deletes a local group (groupdel).",
    GroupName => Named);

/// One group of the group database.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupInfo {
    pub name: String,
    pub gid: u32,
    /// Supplementary members (the group file's fourth field); absent when none.
    pub members: Option<Vec<String>>,
}

/// `node.group.list` and `.get` result (get: one group).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GroupList {
    pub groups: Option<Vec<GroupInfo>>,
}

impl Payload for GroupList {}

/// The payload of an account change: the name it acted on (beside `changed`).
pub use super::Named;

/// The `{name}` of `GET`/`DELETE /node/{hostname}/group/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupName {
    #[schema(schema_with = name_schema)]
    pub name: String,
}

impl Validate for GroupName {
    fn validate(&self) -> Result<(), FieldError> {
        check_name("name", &self.name)
    }
}

/// Body of `POST /node/{hostname}/group`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupCreate {
    #[schema(schema_with = name_schema)]
    pub name: String,
    /// The group id; the next free one when absent.
    #[schema(schema_with = crate::wire::rules::optional_id)]
    // A whole float (`42.0`) is an integer to JSON Schema, and so to the API.
    #[serde(default, deserialize_with = "super::opt_int_or_text")]
    pub gid: Option<u32>,
    /// A system group (an id from the system range).
    #[serde(default)]
    pub system: bool,
}

impl Validate for GroupCreate {
    fn validate(&self) -> Result<(), FieldError> {
        check_name("name", &self.name)
    }
}

/// Body of `PUT /node/{hostname}/group/{name}`: the members, replacing the current ones
/// (`[]` clears them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupMembers {
    #[schema(schema_with = name_schema)]
    pub name: String,
    #[schema(schema_with = names_schema)]
    pub members: Vec<String>,
}

impl Validate for GroupMembers {
    fn validate(&self) -> Result<(), FieldError> {
        check_name("name", &self.name)?;
        check_names("members", &self.members)
    }
}

/// A user or group name as the shadow tools accept it and no option can be mistaken for:
/// `[a-z_][a-z0-9_-]*`, at most 32 characters.
pub fn check_name(field: &str, name: &str) -> Result<(), FieldError> {
    if ACCOUNT_NAME.matches(name) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("{field}: {name:?} is not a name of [a-z_][a-z0-9_-]*, at most 32 long"),
        ))
    }
}

/// [`check_name`] on each of a list; the field names the bad entry (`members[1]`).
pub fn check_names(field: &str, names: &[String]) -> Result<(), FieldError> {
    for (i, name) in names.iter().enumerate() {
        check_name(&format!("{field}[{i}]"), name)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_shadow_tools_portable_ones() {
        for good in ["alice", "_svc", "web-01", "a_b"] {
            assert!(check_name("name", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Alice",
            "1abc",
            "-x",
            "a b",
            "a:b",
            "a/b",
            "../x",
            &"a".repeat(33),
        ] {
            let e = check_name("name", bad).unwrap_err();
            assert_eq!(e.field, "name", "{bad}");
        }
        let e = check_names("members", &["ok".into(), "No".into()]).unwrap_err();
        assert_eq!(e.field, "members[1]");
    }
}
