//! `node.ntp.*`: time sources (chrony) and sync state.

use serde::{Deserialize, Serialize};

use super::{Changed, NoInput};
use crate::wire::rules::Text;
use crate::wire::{FieldError, HostResult, Payload, Validate};

/// An NTP server: a host name or address, never an option (`-` first).
static SERVER: Text = Text::new("^[A-Za-z0-9._:][A-Za-z0-9._:-]*$", 1, 253);

/// 1 to 20 servers, each a [`SERVER`].
fn servers_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    utoipa::openapi::schema::ArrayBuilder::new()
        .items(SERVER.schema())
        .min_items(Some(1))
        .max_items(Some(20))
        .into()
}

/// An NTP operation on `/node/{hostname}/ntp`, answered with 200 (as the original).
macro_rules! ntp_op {
    ($ty:ident, $name:literal, $kind:ident, $method:ident, $perm:ident, $summary:literal,
     $req:ty => $payload:ty) => {
        op!(
            #[doc = concat!("`", stringify!($method), " /node/{hostname}/ntp`.")]
            $ty, $name, $kind, $method, "/node/{hostname}/ntp", $perm, "ntp", $summary,
            $req => $req => $payload => HostResult<$payload>;
            const ACCEPTED: bool = false;
        );
    };
}

ntp_op!(NodeNtpGet, "node.ntp.get", Query, Get, NtpRead,
    "Sync state (chronyc tracking) and time sources.", NoInput => NtpStatus);
ntp_op!(NodeNtpCreate, "node.ntp.create", Modify, Post, NtpWrite,
    "Writes osapi's chrony sources and reloads them.", NtpServers => Changed);
ntp_op!(NodeNtpUpdate, "node.ntp.update", Modify, Put, NtpWrite,
    "Replaces osapi's chrony sources.", NtpServers => Changed);
ntp_op!(NodeNtpDelete, "node.ntp.delete", Modify, Delete, NtpWrite,
    "Removes osapi's chrony sources.", NoInput => Changed);

/// `node.ntp.get` result.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NtpStatus {
    /// The sources chrony uses (`chronyc sources`), or osapi's where chrony is absent.
    #[serde(default)]
    pub servers: Vec<String>,
    /// Leap status `Normal`.
    pub synchronized: Option<bool>,
    pub stratum: Option<u32>,
    /// `+0.000012s` (fast) or `-0.000012s` (slow).
    pub offset: Option<String>,
    pub current_source: Option<String>,
}

impl Payload for NtpStatus {}

/// Body of `POST`/`PUT /node/{hostname}/ntp`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NtpServers {
    /// Host names or addresses, 1 to 20.
    #[schema(schema_with = servers_schema)]
    pub servers: Vec<String>,
}

impl Validate for NtpServers {
    fn validate(&self) -> Result<(), FieldError> {
        if !(1..=20).contains(&self.servers.len()) {
            return Err(FieldError::new("servers", "give 1 to 20 servers"));
        }
        for (i, s) in self.servers.iter().enumerate() {
            // One token of a chrony `server` line: nothing that starts another option.
            if !SERVER.matches(s) {
                let field = format!("servers[{i}]");
                return Err(FieldError::new(
                    &field,
                    format!("{field}: {s:?} is not a host name or address"),
                ));
            }
        }
        Ok(())
    }
}
