//! `node.user.*`: local users, read from the passwd, group and shadow databases under the
//! agent's system root and changed with the shadow tools (`useradd`, `usermod`,
//! `userdel`, `chpasswd`).
//!
//! A password never travels as itself past the controller: the request's `password` is
//! turned into a SHA-512 crypt hash (`$6$rounds=...$salt$hash`, random salt) when the job
//! data is made, and the agent hands that hash to `chpasswd -e` on its stdin. So the job
//! record, the agent, its tool's argument vector and every log see at most the hash, and
//! the audit log masks the `password` field of the body.

use serde::{Deserialize, Serialize};

use super::group::{check_name, check_names, Named, ACCOUNT_NAME};
use super::NoInput;
use crate::wire::rules::Text;
use crate::wire::{FieldError, HostResult, Payload, Validate};

crate::text_schemas!(ACCOUNT_NAME => name_schema, _, _, names_schema);

/// An absolute path fit for a passwd field: no `:`, no control characters, no `.`/`..`
/// parts (a part is empty, or not a dot, or a dot then not a dot, or two dots and more).
static PASSWD_PATH: Text = Text::new(
    r"^(/(|[^/.:\x00-\x1f\x7f-\x9f][^/:\x00-\x1f\x7f-\x9f]*|\.[^/.:\x00-\x1f\x7f-\x9f][^/:\x00-\x1f\x7f-\x9f]*|\.\.[^/:\x00-\x1f\x7f-\x9f]+))+$",
    1,
    4096,
);
crate::text_schemas!(PASSWD_PATH => _, path_schema, _, _);

/// A password `chpasswd` can take: one line without NUL.
static PASSWORD: Text = Text::new(r"^[^\r\n\x00]*$", 1, 1024);
crate::text_schemas!(PASSWORD => password_schema, password_nullable, _, _);

/// A user operation guarded by `$perm`, answered with 200 (as the original).
macro_rules! user_op {
    ($ty:ident, $name:literal, $kind:ident, $method:ident, $path:literal, $perm:ident,
     $summary:literal, $req:ty => $data:ty => $payload:ty) => {
        op!(
            #[doc = concat!("`", stringify!($method), " ", $path, "`.")]
            $ty, $name, $kind, $method, $path, $perm, "user", $summary,
            $req => $data => $payload => HostResult<$payload>;
            const ACCEPTED: bool = false;
        );
    };
}

user_op!(NodeUserList, "node.user.list", Query, Get, "/node/{hostname}/user", UserRead,
    "Local users with their groups and lock state.", NoInput => NoInput => UserList);
user_op!(NodeUserGet, "node.user.get", Query, Get, "/node/{hostname}/user/{name}", UserRead,
    "One local user.", UserName => UserName => UserList);
user_op!(NodeUserCreate, "node.user.create", Modify, Post, "/node/{hostname}/user", UserWrite,
    "Creates a local user with a home directory (useradd), and sets its password if given.",
    UserCreate => UserCreateData => Named);
user_op!(NodeUserUpdate, "node.user.update", Modify, Put, "/node/{hostname}/user/{name}",
    UserWrite, "Changes a user's shell, home, supplementary groups or lock (usermod).",
    UserUpdate => UserUpdate => Named);
user_op!(NodeUserDelete, "node.user.delete", Modify, Delete, "/node/{hostname}/user/{name}",
    UserWrite, "Deletes a local user and its home directory (userdel -r).",
    UserName => UserName => Named);
user_op!(NodeUserPassword, "node.user.password", Modify, Post,
    "/node/{hostname}/user/{name}/password", UserWrite,
    "Sets a user's password (chpasswd, hashed before it leaves the controller).",
    PasswordRequest => PasswordData => Named);

/// One user of the passwd database.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserInfo {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    pub shell: String,
    /// The primary group's name first, then the supplementary groups (as `id -Gn`).
    pub groups: Option<Vec<String>>,
    /// The password is locked (`!` in the shadow database, as `passwd -S` shows `L`).
    pub locked: bool,
}

/// `node.user.list` and `.get` result (get: one user).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UserList {
    pub users: Option<Vec<UserInfo>>,
}

impl Payload for UserList {}

/// The `{name}` of `GET`/`DELETE /node/{hostname}/user/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserName {
    #[schema(schema_with = name_schema)]
    pub name: String,
}

impl Validate for UserName {
    fn validate(&self) -> Result<(), FieldError> {
        check_name("name", &self.name)
    }
}

/// Body of `POST /node/{hostname}/user`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserCreate {
    #[schema(schema_with = name_schema)]
    pub name: String,
    /// The user id (not 0); the next free one when absent.
    #[schema(schema_with = crate::wire::rules::optional_id_not_root)]
    // A whole float (`42.0`) is an integer to JSON Schema, and so to the API.
    #[serde(default, deserialize_with = "super::opt_int_or_text")]
    pub uid: Option<u32>,
    /// The primary group's id; the system's default group when absent.
    #[schema(schema_with = crate::wire::rules::optional_id)]
    // A whole float (`42.0`) is an integer to JSON Schema, and so to the API.
    #[serde(default, deserialize_with = "super::opt_int_or_text")]
    pub gid: Option<u32>,
    /// Home directory (created); `/home/<name>` when absent.
    #[schema(schema_with = path_schema)]
    pub home: Option<String>,
    /// Login shell; the system's default when absent.
    #[schema(schema_with = path_schema)]
    pub shell: Option<String>,
    /// Supplementary groups.
    #[schema(schema_with = names_schema)]
    pub groups: Option<Vec<String>>,
    /// The password, in clear; only its hash leaves the controller.
    #[schema(schema_with = password_nullable)]
    pub password: Option<String>,
    /// A system account (an id from the system range).
    #[serde(default)]
    pub system: bool,
}

/// Never prints the password (a request may be logged on its way through).
impl std::fmt::Debug for UserCreate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserCreate")
            .field("name", &self.name)
            .field("uid", &self.uid)
            .field("gid", &self.gid)
            .field("home", &self.home)
            .field("shell", &self.shell)
            .field("groups", &self.groups)
            .field("system", &self.system)
            .finish_non_exhaustive()
    }
}

impl Validate for UserCreate {
    fn validate(&self) -> Result<(), FieldError> {
        check_name("name", &self.name)?;
        if self.uid == Some(0) {
            return Err(FieldError::new(
                "uid",
                "uid 0 is root's: give another or none",
            ));
        }
        check_path_field("home", self.home.as_deref())?;
        check_path_field("shell", self.shell.as_deref())?;
        check_names("groups", self.groups.as_deref().unwrap_or_default())?;
        if let Some(p) = &self.password {
            check_password(p)?;
        }
        Ok(())
    }
}

/// What the agent receives for a create: the request with the password hashed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserCreateData {
    pub name: String,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub home: Option<String>,
    pub shell: Option<String>,
    pub groups: Option<Vec<String>>,
    /// SHA-512 crypt hash of the password.
    pub password_hash: Option<String>,
    #[serde(default)]
    pub system: bool,
}

impl From<UserCreate> for UserCreateData {
    fn from(r: UserCreate) -> Self {
        Self {
            password_hash: r.password.as_deref().map(crypt_sha512),
            name: r.name,
            uid: r.uid,
            gid: r.gid,
            home: r.home,
            shell: r.shell,
            groups: r.groups,
            system: r.system,
        }
    }
}

/// Body of `PUT /node/{hostname}/user/{name}`: at least one field.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserUpdate {
    #[schema(schema_with = name_schema)]
    pub name: String,
    #[schema(schema_with = path_schema)]
    pub shell: Option<String>,
    /// A new home directory; the old one's content is moved there.
    #[schema(schema_with = path_schema)]
    pub home: Option<String>,
    /// The supplementary groups, replacing the current ones (`[]` clears them).
    #[schema(schema_with = names_schema)]
    pub groups: Option<Vec<String>>,
    /// Lock (`true`) or unlock (`false`) the password.
    pub lock: Option<bool>,
}

impl Validate for UserUpdate {
    const ONE_OF_REQUIRED: &'static [&'static str] = &["shell", "home", "groups", "lock"];

    fn validate(&self) -> Result<(), FieldError> {
        check_name("name", &self.name)?;
        if (&self.shell, &self.home, &self.groups, self.lock) == (&None, &None, &None, None) {
            return Err(FieldError::new(
                "body",
                "at least one field must be provided: shell, home, groups or lock",
            ));
        }
        check_path_field("home", self.home.as_deref())?;
        check_path_field("shell", self.shell.as_deref())?;
        check_names("groups", self.groups.as_deref().unwrap_or_default())
    }
}

/// Body of `POST /node/{hostname}/user/{name}/password`.
#[derive(Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordRequest {
    #[schema(schema_with = name_schema)]
    pub name: String,
    /// The new password, in clear; only its hash leaves the controller.
    #[schema(schema_with = password_schema)]
    pub password: String,
}

/// Never prints the password (a request may be logged on its way through).
impl std::fmt::Debug for PasswordRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordRequest")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Validate for PasswordRequest {
    fn validate(&self) -> Result<(), FieldError> {
        check_name("name", &self.name)?;
        check_password(&self.password)
    }
}

/// What the agent receives to set a password: its hash.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PasswordData {
    pub name: String,
    /// SHA-512 crypt hash of the password.
    pub password_hash: String,
}

impl From<PasswordRequest> for PasswordData {
    fn from(r: PasswordRequest) -> Self {
        Self {
            password_hash: crypt_sha512(&r.password),
            name: r.name,
        }
    }
}

/// Rounds of SHA-512 crypt: well above glibc's 5,000 default, a few tens of milliseconds.
const CRYPT_ROUNDS: usize = 65_536;
/// The alphabet of crypt salts.
const SALT_CHARS: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `password`'s SHA-512 crypt hash with a random 16-character salt, in the shadow
/// database's form (`$6$rounds=65536$<salt>$<hash>`).
pub fn crypt_sha512(password: &str) -> String {
    let mut random = [0u8; 16];
    if getrandom::fill(&mut random).is_err() {
        // No OS randomness (never on Linux): a v4 UUID's generator is the fallback.
        random = *uuid::Uuid::new_v4().as_bytes();
    }
    let salt: String = random
        .iter()
        .map(|b| char::from(SALT_CHARS[usize::from(b % 64)]))
        .collect();
    crypt_with_salt(password, &salt)
}

fn crypt_with_salt(password: &str, salt: &str) -> String {
    #[allow(clippy::expect_used)]
    let params = sha_crypt::Sha512Params::new(CRYPT_ROUNDS).expect("CRYPT_ROUNDS is in range");
    #[allow(clippy::expect_used)]
    let hash = sha_crypt::sha512_crypt_b64(password.as_bytes(), salt.as_bytes(), &params)
        .expect("valid rounds and an ASCII encoding cannot fail");
    format!("$6$rounds={CRYPT_ROUNDS}${salt}${hash}")
}

/// A password `chpasswd` can take: 1 to 1024 characters, no line break or NUL.
fn check_password(p: &str) -> Result<(), FieldError> {
    if PASSWORD.matches(p) {
        Ok(())
    } else {
        Err(FieldError::new(
            "password",
            "password is 1 to 1024 characters without line breaks",
        ))
    }
}

/// An absolute path fit for a passwd field: no `:`, no control characters, no `.`/`..`
/// parts.
fn check_path_field(field: &str, value: Option<&str>) -> Result<(), FieldError> {
    let Some(path) = value else { return Ok(()) };
    if PASSWD_PATH.matches(path) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("{field}: {path:?} is not an absolute path without ':', '.' or '..'"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_become_sha512_crypt_hashes() {
        // The same as glibc's crypt(3) (libxcrypt) gives for this salt and these rounds.
        assert_eq!(
            crypt_with_salt("secret", "abcdefghijklmnop"),
            "$6$rounds=65536$abcdefghijklmnop$6mh7lP.qu2CnAYqDQEHGTOrq8tl8nr9ueKQt9iwm.\
             DuL9cVH6ugcuYHZdi5ZKRmSii2tFeR4jy/Mb3kfqfBCo1"
        );
        let (a, b) = (crypt_sha512("secret"), crypt_sha512("secret"));
        assert_ne!(a, b, "a random salt each time");
        assert!(!a.contains("secret"));
        let data = PasswordData::from(PasswordRequest {
            name: "bob".into(),
            password: "hunter2".into(),
        });
        assert!(!serde_json::to_string(&data).unwrap().contains("hunter2"));
        let req = PasswordRequest {
            name: "bob".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{req:?}").contains("hunter2"));
    }

    #[test]
    fn bad_input_names_its_field() {
        let create = |f: &dyn Fn(&mut UserCreate)| {
            let mut c = UserCreate {
                name: "bob".into(),
                ..Default::default()
            };
            f(&mut c);
            c.validate().map_err(|e| e.field)
        };
        assert_eq!(create(&|_| {}), Ok(()));
        assert_eq!(create(&|c| c.name = "Bob".into()), Err("name".into()));
        assert_eq!(create(&|c| c.uid = Some(0)), Err("uid".into()));
        assert_eq!(
            create(&|c| c.home = Some("/h:x".into())),
            Err("home".into())
        );
        assert_eq!(
            create(&|c| c.shell = Some("sh".into())),
            Err("shell".into())
        );
        assert_eq!(
            create(&|c| c.groups = Some(vec!["ok".into(), "-x".into()])),
            Err("groups[1]".into())
        );
        assert_eq!(
            create(&|c| c.password = Some("a\nroot:x".into())),
            Err("password".into())
        );
        let empty = UserUpdate {
            name: "bob".into(),
            ..Default::default()
        };
        assert_eq!(empty.validate().map_err(|e| e.field), Err("body".into()));
    }
}
