//! `certificate.ca.*`: the certificate is fetched from the object store and checked to be
//! one X.509 certificate here, before the provider writes it and refreshes the trust
//! store off the async threads.

use tokio::io::AsyncReadExt;

use super::group::named_change;
use super::{Done, Handle};
use crate::agent::processor::{with_provider, ExecContext, OpError};
use crate::wire::ops::certificate::{
    check_ca_pem, CaList, CaName, CaObject, CertificateCaCreate, CertificateCaDelete,
    CertificateCaList, CertificateCaUpdate,
};
use crate::wire::ops::group::Named;
use crate::wire::ops::NoInput;

/// Larger objects are not a certificate.
const MAX_PEM: usize = 1024 * 1024;

/// The object's bytes, up to [`MAX_PEM`]; a missing or oversized object is the
/// request's `object` field's fault.
async fn fetch(ctx: &ExecContext, object: &str) -> Result<Vec<u8>, OpError> {
    let (objects, _, _) = ctx
        .files
        .as_ref()
        .ok_or("file storage is not configured on this agent")?;
    let mut reader = objects
        .get(object)
        .await
        .map_err(|e| OpError::field("object", format!("object {object:?}: {e}")))?;
    let mut pem = Vec::new();
    (&mut reader)
        .take(MAX_PEM as u64 + 1)
        .read_to_end(&mut pem)
        .await
        .map_err(|e| format!("reading object {object:?}: {e}"))?;
    if pem.len() > MAX_PEM {
        return Err(OpError::field("object", "a certificate is at most 1 MiB"));
    }
    Ok(pem)
}

/// Create (`create`) or replace a managed certificate from its object.
async fn install(ctx: &ExecContext, data: CaObject, create: bool) -> Result<Done<Named>, OpError> {
    let pem = fetch(ctx, &data.object).await?;
    check_ca_pem(&pem)
        .map_err(|e| OpError::field("object", format!("object {:?}: {e}", data.object)))?;
    let doing = if create {
        "failed to add a CA certificate"
    } else {
        "failed to update a CA certificate"
    };
    named_change(
        &ctx.providers.certificates,
        data.name,
        doing,
        move |p, name| p.install(name, &pem, create),
    )
    .await
}

super::handled_by! {
    CertificateCaCreate [CaObject => Named] = install(true);
    CertificateCaUpdate [CaObject => Named] = install(false);
}

impl Handle for CertificateCaList {
    async fn run(ctx: &ExecContext, _: NoInput) -> Result<Done<CaList>, OpError> {
        let doing = "failed to list CA certificates";
        let certificates = with_provider(&ctx.providers.certificates, doing, |p| p.list()).await?;
        Ok(Done::read(CaList {
            certificates: Some(certificates),
        }))
    }
}

impl Handle for CertificateCaDelete {
    async fn run(ctx: &ExecContext, data: CaName) -> Result<Done<Named>, OpError> {
        let certificates = &ctx.providers.certificates;
        named_change(
            certificates,
            data.name,
            "failed to remove a CA certificate",
            |p, name| p.remove(name),
        )
        .await
    }
}
