//! Authentication (JWT) and authorisation (roles and permissions).
//!
//! Tokens are HS256 JWTs signed with the configured signing key (the raw UTF-8 bytes of
//! the string), wire-compatible with the original OSAPI. A token carries `roles` and,
//! optionally, `permissions`; a non-empty `permissions` claim replaces role expansion.

mod b64;
mod permission;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde::{Deserialize, Deserializer, Serialize};

use crate::config::RoleConfig;

pub use permission::{builtin_role_permissions, ParsePermissionError, Permission, BUILTIN_ROLES};

/// `iss` claim of issued tokens.
pub const ISSUER: &str = "osapi";

/// `aud` claim of issued tokens (informational; not validated).
pub const AUDIENCE: [&str; 2] = ["https://localhost", "http://localhost"];

/// Default token lifetime: 90 days.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(90 * 24 * 60 * 60);

/// How far in the future an `iat` claim may lie before the token is rejected.
const IAT_SKEW_SECS: i64 = 60;

/// Base64url of `{"alg":"HS256","typ":"JWT"}`, byte-identical to the Go implementation.
const HS256_HEADER_B64: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

/// Algorithms accepted when verifying.
const ACCEPTED_ALGORITHMS: [Algorithm; 3] = [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512];

/// Authentication and authorisation errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The `Authorization` header is missing or is not `Bearer <token>` (HTTP 401).
    #[error("Bearer token required")]
    MissingBearer,
    /// The token failed verification (HTTP 401); the string is the reason.
    #[error("Invalid token: {0}")]
    InvalidToken(String),
    /// A role passed to [`Authenticator::issue`] is neither built-in nor configured.
    #[error("unknown role {role:?} (known roles: {})", known.join(", "))]
    UnknownRole {
        /// The offending role.
        role: String,
        /// All roles that are usable.
        known: Vec<String>,
    },
    /// A configured custom role lists an unknown permission.
    #[error("role {role:?}: {source}")]
    UnknownPermission {
        /// The custom role's name.
        role: String,
        /// The parse failure, naming the bad permission and listing valid ones.
        source: ParsePermissionError,
    },
    /// [`Authenticator::issue`] was called without roles.
    #[error("at least one role is required")]
    NoRoles,
    /// The signing key is empty.
    #[error("signing key must not be empty")]
    EmptySigningKey,
    /// Signing or serialising a token failed.
    #[error("failed to sign token: {0}")]
    Encode(String),
}

fn invalid(reason: impl Into<String>) -> AuthError {
    AuthError::InvalidToken(reason.into())
}

/// JWT claims, field-compatible with the Go `CustomClaims` (roles, permissions + registered claims).
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Role names; required and non-empty.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub roles: Vec<String>,
    /// Explicit permissions; when non-empty they replace role expansion.
    #[serde(
        default,
        deserialize_with = "null_as_empty",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub permissions: Vec<String>,
    /// Issuer.
    pub iss: Option<String>,
    /// Subject.
    pub sub: Option<String>,
    /// Audience (a single string is accepted when decoding).
    #[serde(
        default,
        deserialize_with = "string_or_vec",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub aud: Vec<String>,
    /// Expiry, seconds since the Unix epoch.
    #[serde(default, deserialize_with = "numeric_date")]
    pub exp: Option<i64>,
    /// Not-before, seconds since the Unix epoch.
    #[serde(default, deserialize_with = "numeric_date")]
    pub nbf: Option<i64>,
    /// Issued-at, seconds since the Unix epoch.
    #[serde(default, deserialize_with = "numeric_date")]
    pub iat: Option<i64>,
    /// Token id.
    pub jti: Option<String>,
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default())
}

fn string_or_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

fn numeric_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        Int(i64),
        Float(f64),
    }
    match Option::<Num>::deserialize(d)? {
        None => Ok(None),
        Some(Num::Int(i)) => Ok(Some(i)),
        // `as` saturates, which is the right behaviour for absurd values.
        Some(Num::Float(f)) if f.is_finite() => Ok(Some(f.floor() as i64)),
        Some(Num::Float(_)) => Err(serde::de::Error::custom("invalid numeric date")),
    }
}

/// An authenticated caller: the verified token's subject, roles and effective permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `sub` claim (empty if absent).
    pub subject: String,
    /// `roles` claim.
    pub roles: Vec<String>,
    /// Effective permissions (explicit claim, else the union of the roles' permissions).
    pub permissions: BTreeSet<Permission>,
    /// The full verified claims.
    pub claims: Claims,
}

impl Principal {
    /// Whether the caller holds `permission`.
    pub fn allows(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

/// Issues and verifies tokens; holds the signing key and the effective role table.
#[derive(Clone)]
pub struct Authenticator {
    encoding_key: EncodingKey,
    decoding_key: DecodingKey,
    validation: Validation,
    /// Built-in roles overlaid with configured ones (a configured role replaces a built-in).
    roles: BTreeMap<String, BTreeSet<Permission>>,
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authenticator")
            .field("signing_key", &"<redacted>")
            .field("roles", &self.roles)
            .finish()
    }
}

impl Authenticator {
    /// Builds an authenticator from the signing key and the configured custom roles
    /// (`controller.api.security.roles`). Fails on an empty key or an unknown permission.
    pub fn new(signing_key: &str, roles: &BTreeMap<String, RoleConfig>) -> Result<Self, AuthError> {
        if signing_key.is_empty() {
            return Err(AuthError::EmptySigningKey);
        }
        let mut table: BTreeMap<String, BTreeSet<Permission>> = BUILTIN_ROLES
            .iter()
            .filter_map(|name| {
                builtin_role_permissions(name)
                    .map(|perms| ((*name).to_owned(), perms.iter().copied().collect()))
            })
            .collect();
        for (name, cfg) in roles {
            let perms = cfg
                .permissions
                .iter()
                .map(|p| {
                    p.parse::<Permission>()
                        .map_err(|source| AuthError::UnknownPermission {
                            role: name.clone(),
                            source,
                        })
                })
                .collect::<Result<BTreeSet<_>, _>>()?;
            table.insert(name.clone(), perms);
        }

        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = ACCEPTED_ALGORITHMS.to_vec();
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = false;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss"]);

        Ok(Self {
            encoding_key: EncodingKey::from_secret(signing_key.as_bytes()),
            decoding_key: DecodingKey::from_secret(signing_key.as_bytes()),
            validation,
            roles: table,
        })
    }

    /// All usable role names (built-in and configured), sorted.
    pub fn known_roles(&self) -> Vec<String> {
        self.roles.keys().cloned().collect()
    }

    /// Effective permissions of a role (configured override, else built-in).
    pub fn role_permissions(&self, role: &str) -> Option<&BTreeSet<Permission>> {
        self.roles.get(role)
    }

    /// Issues an HS256 token for `subject` with `roles` (each must be known) and optional
    /// explicit `permissions`, valid for `ttl` from now.
    pub fn issue(
        &self,
        subject: &str,
        roles: &[String],
        permissions: &[Permission],
        ttl: Duration,
    ) -> Result<String, AuthError> {
        if roles.is_empty() {
            return Err(AuthError::NoRoles);
        }
        if let Some(role) = roles.iter().find(|r| !self.roles.contains_key(*r)) {
            return Err(AuthError::UnknownRole {
                role: role.clone(),
                known: self.known_roles(),
            });
        }
        let now = now_unix();
        let exp = i64::try_from(ttl.as_secs())
            .ok()
            .and_then(|secs| now.checked_add(secs))
            .ok_or_else(|| AuthError::Encode("token lifetime is too large".into()))?;
        let mut seen = BTreeSet::new();
        let permissions = permissions
            .iter()
            .filter(|p| seen.insert(**p))
            .map(|p| p.as_str().to_owned())
            .collect();
        let claims = Claims {
            roles: roles.to_vec(),
            permissions,
            iss: Some(ISSUER.to_owned()),
            sub: (!subject.is_empty()).then(|| subject.to_owned()),
            aud: AUDIENCE.iter().map(|a| (*a).to_owned()).collect(),
            exp: Some(exp),
            nbf: None,
            iat: Some(now),
            jti: None,
        };
        self.sign_claims(&claims)
    }

    /// Signs arbitrary claims with HS256 without checking them (for tooling and tests).
    pub fn sign_claims(&self, claims: &Claims) -> Result<String, AuthError> {
        let payload = serde_json::to_vec(claims).map_err(|e| AuthError::Encode(e.to_string()))?;
        let message = format!("{HS256_HEADER_B64}.{}", b64::encode(&payload));
        let signature =
            jsonwebtoken::crypto::sign(message.as_bytes(), &self.encoding_key, Algorithm::HS256)
                .map_err(|e| AuthError::Encode(e.to_string()))?;
        Ok(format!("{message}.{signature}"))
    }

    /// Verifies a token and resolves the caller's effective permissions.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding_key, &self.validation)
            .map_err(|e| jwt_error(&e, token))?;
        let claims = data.claims;

        if claims
            .iat
            .is_some_and(|iat| iat > now_unix() + IAT_SKEW_SECS)
        {
            return Err(invalid("token used before issued"));
        }
        if claims.roles.is_empty() {
            return Err(invalid("token has no roles"));
        }
        if let Some(role) = claims.roles.iter().find(|r| !self.roles.contains_key(*r)) {
            return Err(invalid(format!("unknown role {role:?}")));
        }

        let permissions = if claims.permissions.is_empty() {
            claims
                .roles
                .iter()
                .filter_map(|r| self.roles.get(r))
                .flatten()
                .copied()
                .collect()
        } else {
            claims
                .permissions
                .iter()
                .map(|p| p.parse::<Permission>().map_err(|e| invalid(e.to_string())))
                .collect::<Result<BTreeSet<_>, _>>()?
        };

        Ok(Principal {
            subject: claims.sub.clone().unwrap_or_default(),
            roles: claims.roles.clone(),
            permissions,
            claims,
        })
    }

    /// Verifies the value of an `Authorization` header, which must be `Bearer <token>`
    /// (the scheme in any case, as RFC 7235 has it).
    pub fn verify_header(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        let token = header
            .and_then(|h| h.trim_start().split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .filter(|token| !token.is_empty())
            .ok_or(AuthError::MissingBearer)?;
        self.verify(token)
    }
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The `alg` named in a token's header, if it can be read.
fn header_alg(token: &str) -> Option<String> {
    let header = b64::decode(token.split('.').next()?)?;
    let value: serde_json::Value = serde_json::from_slice(&header).ok()?;
    value.get("alg")?.as_str().map(str::to_owned)
}

/// Whether the token's payload has `claim` at all (`jsonwebtoken` reports a claim it
/// cannot parse, such as `exp: 1e300`, as missing).
fn claim_present(token: &str, claim: &str) -> bool {
    let payload = token.split('.').nth(1).and_then(b64::decode);
    payload
        .and_then(|p| serde_json::from_slice::<serde_json::Value>(&p).ok())
        .is_some_and(|v| v.get(claim).is_some())
}

/// What a registered claim must look like.
fn claim_format(claim: &str) -> &'static str {
    match claim {
        "exp" | "nbf" | "iat" => "must be whole seconds since 1970 (an integer)",
        _ => "must be a string",
    }
}

/// Maps a `jsonwebtoken` failure to [`AuthError::InvalidToken`] with a readable reason.
fn jwt_error(err: &jsonwebtoken::errors::Error, token: &str) -> AuthError {
    let disallowed_alg = || {
        header_alg(token).filter(|alg| {
            !alg.parse::<Algorithm>()
                .is_ok_and(|a| ACCEPTED_ALGORITHMS.contains(&a))
        })
    };
    let reason = match err.kind() {
        ErrorKind::InvalidSignature => "signature is invalid".to_owned(),
        ErrorKind::ExpiredSignature => "token is expired".to_owned(),
        ErrorKind::ImmatureSignature => "token is not valid yet".to_owned(),
        ErrorKind::MissingRequiredClaim(claim) if claim_present(token, claim) => {
            format!(
                "token has a malformed {claim} claim: {}",
                claim_format(claim)
            )
        }
        ErrorKind::MissingRequiredClaim(claim) => format!("token is missing the {claim} claim"),
        ErrorKind::InvalidIssuer => format!("token was not issued by {ISSUER:?}"),
        ErrorKind::InvalidClaimFormat(claim) => format!("token has a malformed {claim} claim"),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName | ErrorKind::Json(_) => {
            match disallowed_alg() {
                Some(alg) => format!("signing method {alg:?} is not allowed"),
                None if matches!(err.kind(), ErrorKind::Json(_)) => {
                    format!("malformed token: {err}")
                }
                None => "signing method is not allowed".to_owned(),
            }
        }
        ErrorKind::InvalidToken | ErrorKind::Base64(_) | ErrorKind::Utf8(_) => {
            "malformed token".to_owned()
        }
        _ => err.to_string(),
    };
    AuthError::InvalidToken(reason)
}

#[cfg(test)]
mod tests;
