//! `node.sshKey.*`: a user's `~/.ssh/authorized_keys`, keys named by their OpenSSH
//! SHA-256 fingerprint (`SHA256:` + unpadded base64, as `ssh-keygen -lf` prints it).

use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::group::check_name;
use super::user::UserName;
use super::Changed;
use crate::wire::rules::Text;
use crate::wire::{FieldError, HostResult, Payload, Validate};

crate::text_schemas!(super::group::ACCOUNT_NAME => name_schema, _, _, _);

/// A key's SHA-256 fingerprint as `ssh-keygen -lf` prints it: 43 base64 characters
/// without padding, the last one with its two spare bits zero (canonical base64).
static FINGERPRINT: Text = Text::new("^SHA256:[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]$", 50, 50);
crate::text_schemas!(FINGERPRINT => fingerprint_schema, _, _, _);

/// An SSH key operation guarded by `$perm`, answered with 200 (as the original).
macro_rules! ssh_key_op {
    ($ty:ident, $name:literal, $kind:ident, $method:ident, $path:literal, $perm:ident,
     $summary:literal, $req:ty => $payload:ty) => {
        op!(
            #[doc = concat!("`", stringify!($method), " ", $path, "`.")]
            $ty, $name, $kind, $method, $path, $perm, "user", $summary,
            $req => $req => $payload => HostResult<$payload>;
            const ACCEPTED: bool = false;
        );
    };
}

ssh_key_op!(NodeSshKeyList, "node.sshKey.list", Query, Get, "/node/{hostname}/user/{name}/ssh-key",
    UserRead, "A user's authorized SSH keys with their fingerprints.", UserName => SshKeyList);
ssh_key_op!(NodeSshKeyAdd, "node.sshKey.add", Modify, Post, "/node/{hostname}/user/{name}/ssh-key",
    UserWrite, "Authorizes a public key for a user.", SshKeyAdd => Changed);
ssh_key_op!(NodeSshKeyRemove, "node.sshKey.remove", Modify, Delete,
    "/node/{hostname}/user/{name}/ssh-key/{fingerprint}", UserWrite,
    "Removes a user's authorized key by fingerprint.", SshKeyRemove => Changed);

/// One authorized key.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SshKeyInfo {
    /// `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`, ...
    #[serde(rename = "type")]
    pub key_type: String,
    /// `SHA256:` + unpadded base64 of the key blob's SHA-256.
    pub fingerprint: String,
    pub comment: Option<String>,
}

/// `node.sshKey.list` result.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SshKeyList {
    pub keys: Option<Vec<SshKeyInfo>>,
}

impl Payload for SshKeyList {}

/// Body of `POST /node/{hostname}/user/{name}/ssh-key`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SshKeyAdd {
    #[schema(schema_with = name_schema)]
    pub name: String,
    /// A full authorized_keys line: `[options] type base64 [comment]`.
    pub key: String,
}

impl Validate for SshKeyAdd {
    fn validate(&self) -> Result<(), FieldError> {
        check_name("name", &self.name)?;
        parse_authorized_key(&self.key)
            .map(drop)
            .map_err(|e| FieldError::new("key", format!("key: {e}")))
    }
}

/// The parameters of `DELETE /node/{hostname}/user/{name}/ssh-key/{fingerprint}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SshKeyRemove {
    #[schema(schema_with = name_schema)]
    pub name: String,
    #[schema(schema_with = fingerprint_schema)]
    pub fingerprint: String,
}

impl Validate for SshKeyRemove {
    fn validate(&self) -> Result<(), FieldError> {
        check_name("name", &self.name)?;
        if FINGERPRINT.matches(&self.fingerprint) {
            Ok(())
        } else {
            Err(FieldError::new(
                "fingerprint",
                "fingerprint is SHA256: and 43 base64 characters, as ssh-keygen -lf prints",
            ))
        }
    }
}

/// The key types OpenSSH accepts in authorized_keys, with the fields of their blobs after
/// the type name.
const KEY_TYPES: &[(&str, &[Field])] = &[
    ("ssh-ed25519", &[Field::Bytes(32)]),
    ("ssh-rsa", &[Field::Int, Field::Int]),
    ("ssh-dss", &[Field::Int, Field::Int, Field::Int, Field::Int]),
    (
        "ecdsa-sha2-nistp256",
        &[Field::Is("nistp256"), Field::Point],
    ),
    (
        "ecdsa-sha2-nistp384",
        &[Field::Is("nistp384"), Field::Point],
    ),
    (
        "ecdsa-sha2-nistp521",
        &[Field::Is("nistp521"), Field::Point],
    ),
    (
        "sk-ssh-ed25519@openssh.com",
        &[Field::Bytes(32), Field::Int],
    ),
    (
        "sk-ecdsa-sha2-nistp256@openssh.com",
        &[Field::Is("nistp256"), Field::Point, Field::Int],
    ),
];

/// One length-prefixed field of a key blob.
#[derive(Debug, Clone, Copy)]
enum Field {
    /// Exactly this many bytes.
    Bytes(usize),
    /// Any non-empty string (an mpint, an application name).
    Int,
    /// This text.
    Is(&'static str),
    /// An uncompressed curve point.
    Point,
}

/// The next SSH wire string of `blob`.
fn next_string<'a>(blob: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (len, rest) = blob.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    let (s, rest) = (rest.get(..len)?, rest.get(len..)?);
    *blob = rest;
    Some(s)
}

/// Whether `blob` is a well-formed public key of `key_type`.
fn well_formed(key_type: &str, mut blob: &[u8]) -> bool {
    let Some((_, fields)) = KEY_TYPES.iter().find(|(t, _)| *t == key_type) else {
        return false;
    };
    if next_string(&mut blob) != Some(key_type.as_bytes()) {
        return false;
    }
    let each = fields.iter().all(|f| {
        next_string(&mut blob).is_some_and(|s| match f {
            Field::Bytes(n) => s.len() == *n,
            Field::Int => !s.is_empty(),
            Field::Is(text) => s == text.as_bytes(),
            Field::Point => s.first() == Some(&4) && s.len() > 1,
        })
    });
    each && blob.is_empty()
}

/// The whitespace-separated words of a line, a double-quoted part (an option's value)
/// kept whole.
fn words(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (None, false);
    for (i, c) in line.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if let Some(s) = start.take() {
                    out.push(&line[s..i]);
                }
                continue;
            }
            _ => {}
        }
        start.get_or_insert(i);
    }
    if let Some(s) = start {
        out.push(&line[s..]);
    }
    out
}

/// `SHA256:` + unpadded base64 of the blob's SHA-256, as `ssh-keygen -lf` prints.
pub fn fingerprint(blob: &[u8]) -> String {
    let digest = Sha256::digest(blob);
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

/// The key of an authorized_keys line (`[options] type base64 [comment]`), checked to
/// be a well-formed public key of its type; why not otherwise. A comment line is not a
/// key.
pub fn parse_authorized_key(line: &str) -> Result<SshKeyInfo, String> {
    if line.contains(['\n', '\r', '\0']) {
        return Err("one line only".into());
    }
    let words = words(line.trim());
    if words.first().is_some_and(|w| w.starts_with('#')) {
        return Err("a comment, not a key".into());
    }
    // The type is the first or, after options, the second word.
    let at = (0..words.len().min(2))
        .find(|&i| KEY_TYPES.iter().any(|(t, _)| *t == words[i]))
        .ok_or("no known key type (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ...)")?;
    let key_type = words[at];
    let blob = words
        .get(at + 1)
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .ok_or("the key is not base64")?;
    if !well_formed(key_type, &blob) {
        return Err(format!("not a well-formed {key_type} public key"));
    }
    let comment = words.get(at + 2..).map(|c| c.join(" "));
    Ok(SshKeyInfo {
        key_type: key_type.to_owned(),
        fingerprint: fingerprint(&blob),
        comment: comment.filter(|c| !c.is_empty()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_are_canonical_sha256_base64() {
        let decodes = |b64: &str| {
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(b64)
                .is_ok_and(|d| d.len() == 32)
        };
        let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        for last in alphabet.chars() {
            let b64 = format!("{}{last}", "Ab+/".repeat(10) + "Ab");
            let fp = format!("SHA256:{b64}");
            assert_eq!(FINGERPRINT.matches(&fp), decodes(&b64), "{fp}");
        }
        assert_eq!(fingerprint(b"x").len(), 50);
        assert!(FINGERPRINT.matches(&fingerprint(b"x")));
    }

    /// Keys made by ssh-keygen, with the fingerprints `ssh-keygen -lf` printed for them.
    const KEYS: &[(&str, &str)] = &[
        (
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO4r8a6zHpx24NhR23/h/+BrGZG847D7EDPk1ybbjCf8 test-ed25519@example",
            "SHA256:WK9JkojmPVn01RwMGumgrRQ8Nxcxf0QSBUAdqFU+uzc",
        ),
        (
            "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBNhvDVRhSnSUmt+UEkPAS8jDewEa9/lS77QS/FUSZaXKHzA0F8h/XRGeJfuQVaiWuCwhjF7ZRlh3sB8kzQXOCYo= test-ecdsa@example",
            "SHA256:T0V/KrAvyrLXqjUp2hDUOm2z4UBPifhAOi6H+9TSuH4",
        ),
        (
            "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQC/LcHGd7/Q27j45JiseGIMkekq7w5CWvZ0Ph8NzOCR/GJa+SoERmsnGPiP5ARoWLN+o4jTKag6RxIVYnOhNOvUQZxStrfqy6a4s9bfAnHNBXwHUmQ5h8vVMT68gyVb0loWQBkJ1hmZQqel740Mc+y9AqaOjxz9mGEDaD+eC69Szw== test-rsa",
            "SHA256:yu4KJdppbDthvuiR5IaUvPcv4cQshCB7C1jJFLOd7hQ",
        ),
    ];

    #[test]
    fn fingerprints_are_ssh_keygens() {
        for (line, fp) in KEYS {
            let key = parse_authorized_key(line).unwrap();
            assert_eq!(key.fingerprint, *fp);
            assert!(key.comment.is_some_and(|c| c.starts_with("test-")));
        }
        let with_options = format!("from=\"10.0.0.1\",command=\"echo a b\" {}", KEYS[0].0);
        let key = parse_authorized_key(&with_options).unwrap();
        assert_eq!(
            (key.key_type.as_str(), key.fingerprint.as_str()),
            ("ssh-ed25519", KEYS[0].1)
        );
    }

    #[test]
    fn malformed_keys_are_refused() {
        let ed = KEYS[0].0;
        let b64 = ed.split(' ').nth(1).unwrap();
        for bad in [
            "",
            "# a comment",
            "ssh-ed25519",
            "ssh-ed25519 !!!notbase64",
            "ssh-foo AAAA",
            &format!("ssh-rsa {b64}"),
            &format!("ssh-ed25519 {}", &b64[..b64.len() - 4]),
            &format!("{ed}\nssh-ed25519 {b64}"),
        ] {
            assert!(parse_authorized_key(bad).is_err(), "{bad:?}");
        }
        let add = SshKeyAdd {
            name: "bob".into(),
            key: "ssh-rsa AAAA".into(),
        };
        assert_eq!(add.validate().unwrap_err().field, "key");
        let remove = |fp: &str| SshKeyRemove {
            name: "bob".into(),
            fingerprint: fp.into(),
        };
        assert!(remove(KEYS[1].1).validate().is_ok());
        assert_eq!(
            remove("MD5:aa").validate().unwrap_err().field,
            "fingerprint"
        );
    }
}
