//! `certificate.ca.*`: custom CA certificates the system trusts, taken from the object
//! store into `/usr/local/share/ca-certificates/osapi-{name}.crt` and made trusted with
//! `update-ca-certificates`.

use serde::{Deserialize, Serialize};

use super::file::check_object_name;
use super::group::Named;
use super::NoInput;
use crate::wire::rules::Text;
use crate::wire::{FieldError, HostResult, Payload, Validate};

/// A managed CA certificate's name (`osapi-<name>.crt`).
static CA_NAME: Text = Text::new("^[A-Za-z0-9_-]+$", 1, 64);
crate::text_schemas!(CA_NAME => name_schema, _, _, _);
crate::text_schemas!(super::file::OBJECT_NAME => object_schema, _, _, _);

/// A certificate operation guarded by `$perm`, answered with 200 (as the original).
macro_rules! certificate_op {
    ($ty:ident, $name:literal, $kind:ident, $method:ident, $path:literal, $perm:ident,
     $summary:literal, $req:ty => $payload:ty $(; $($extra:tt)*)?) => {
        op!(
            #[doc = concat!("`", stringify!($method), " ", $path, "`.")]
            $ty, $name, $kind, $method, $path, $perm, "certificate", $summary,
            $req => $req => $payload => HostResult<$payload>;
            const ACCEPTED: bool = false;
            $($($extra)*)?
        );
    };
}

certificate_op!(CertificateCaList, "certificate.ca.list", Query, Get,
    "/node/{hostname}/certificate/ca", CertificateRead,
    "Custom CA certificates osapi manages, then the system's.", NoInput => CaList);
certificate_op!(CertificateCaCreate, "certificate.ca.create", Modify, Post,
    "/node/{hostname}/certificate/ca", CertificateWrite,
    "Trusts a CA certificate from an uploaded object (update-ca-certificates).",
    CaObject => Named; const STORED_OBJECT_FIELD: &'static str = "object";
    fn stored_object(r: &CaObject) -> Option<&str> { Some(&r.object) });
certificate_op!(CertificateCaUpdate, "certificate.ca.update", Modify, Put,
    "/node/{hostname}/certificate/ca/{name}", CertificateWrite,
    "Replaces a managed CA certificate with an uploaded object.",
    CaObject => Named; const STORED_OBJECT_FIELD: &'static str = "object";
    fn stored_object(r: &CaObject) -> Option<&str> { Some(&r.object) });
certificate_op!(CertificateCaDelete, "certificate.ca.delete", Modify, Delete,
    "/node/{hostname}/certificate/ca/{name}", CertificateWrite,
    "Stops trusting a managed CA certificate.", CaName => Named);

/// Where a trusted CA certificate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CaSource {
    /// The distribution's store (`/usr/share/ca-certificates`).
    System,
    /// Managed by osapi (`/usr/local/share/ca-certificates/osapi-*.crt`).
    Custom,
}

/// One trusted CA certificate.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaInfo {
    /// A custom certificate's name; a system one's path under the store, without `.crt`.
    pub name: String,
    pub source: CaSource,
    /// The object it came from (never known to a listing, as in the original).
    pub object: Option<String>,
}

/// `certificate.ca.list` result.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaList {
    pub certificates: Option<Vec<CaInfo>>,
}

impl Payload for CaList {}

/// Body of `POST /node/{hostname}/certificate/ca` (with `name`) and `PUT
/// .../certificate/ca/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaObject {
    #[schema(schema_with = name_schema)]
    pub name: String,
    /// The uploaded object (`/file`) holding the PEM certificate.
    #[schema(schema_with = object_schema)]
    pub object: String,
}

impl Validate for CaObject {
    fn validate(&self) -> Result<(), FieldError> {
        check_ca_name(&self.name)?;
        check_object_name(&self.object).map_err(|e| FieldError::new("object", e))
    }
}

/// The `{name}` of `DELETE /node/{hostname}/certificate/ca/{name}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaName {
    #[schema(schema_with = name_schema)]
    pub name: String,
}

impl Validate for CaName {
    fn validate(&self) -> Result<(), FieldError> {
        check_ca_name(&self.name)
    }
}

/// `[A-Za-z0-9_-]`, 1 to 64: the name is part of a file name.
fn check_ca_name(name: &str) -> Result<(), FieldError> {
    if CA_NAME.matches(name) {
        Ok(())
    } else {
        Err(FieldError::new(
            "name",
            format!("name: {name:?} is not 1 to 64 of A-Z a-z 0-9 _ -"),
        ))
    }
}

/// Checks that `pem` is exactly one PEM `CERTIFICATE` that parses as X.509, as
/// `update-ca-certificates` needs each `.crt` to be; why not otherwise.
pub fn check_ca_pem(pem: &[u8]) -> Result<(), String> {
    use x509_cert::der::DecodePem;
    let text = std::str::from_utf8(pem).map_err(|_| "not PEM text".to_string())?;
    let blocks = text.matches("-----BEGIN ").count();
    if blocks != 1 {
        return Err(format!(
            "holds {blocks} PEM blocks: give exactly one certificate"
        ));
    }
    x509_cert::Certificate::from_pem(text.trim())
        .map(drop)
        .map_err(|e| format!("not an X.509 certificate in PEM: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CA: &str = include_str!("../../../tests/fixtures/ca-custom.pem");

    #[test]
    fn only_one_x509_certificate_passes() {
        assert_eq!(check_ca_pem(CA.as_bytes()), Ok(()));
        let two = format!("{CA}{CA}");
        assert!(check_ca_pem(two.as_bytes()).is_err());
        let key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n";
        assert!(check_ca_pem(key.as_bytes()).is_err());
        let garbled = CA.replace("MII", "MIJ");
        assert!(check_ca_pem(garbled.as_bytes()).is_err());
        assert!(check_ca_pem(b"hello").is_err());
        assert!(check_ca_pem(&[0xff, 0xfe]).is_err());
    }

    #[test]
    fn names_and_objects_are_checked() {
        let ca = |name: &str, object: &str| CaObject {
            name: name.into(),
            object: object.into(),
        };
        assert!(ca("corp-root_1", "corp.pem").validate().is_ok());
        assert_eq!(ca("../x", "o").validate().unwrap_err().field, "name");
        assert_eq!(ca("a.b", "o").validate().unwrap_err().field, "name");
        assert_eq!(ca("a", "../o").validate().unwrap_err().field, "object");
    }
}
