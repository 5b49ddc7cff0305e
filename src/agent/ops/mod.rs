//! The agent side of each catalogue operation: typed job data in, provider calls, typed
//! payload out. One [`Handle`] impl per operation; the processor's dispatch table is built
//! from the catalogue, so an operation without one does not compile.

pub mod certificate;
pub mod command;
pub mod cron;
pub mod file;
pub mod group;
pub mod host;
pub mod network;
pub mod node;
pub mod ntp;
pub mod package;
pub mod service;
pub mod sysctl;
pub mod user;

pub mod log;
pub mod netplan;
pub mod process;

pub mod docker;

use std::future::Future;

use super::processor::{ExecContext, OpError};
use crate::wire::ops::Op;

/// One host's result: the payload, and whether the host was changed.
#[derive(Debug, Clone)]
pub struct Done<P> {
    pub payload: P,
    pub changed: bool,
}

impl<P> Done<P> {
    /// The result of a change.
    pub fn new(payload: P, changed: bool) -> Self {
        Self { payload, changed }
    }

    /// The result of a read: nothing changed.
    pub fn read(payload: P) -> Self {
        Self {
            payload,
            changed: false,
        }
    }
}

/// A change through `provider` whose answer is only `changed`.
pub async fn change<P: ?Sized + Send + Sync + 'static>(
    provider: &std::sync::Arc<P>,
    doing: &str,
    f: impl FnOnce(&P) -> Result<bool, crate::provider::ProviderError> + Send + 'static,
) -> Result<Done<crate::wire::ops::Changed>, OpError> {
    let changed = super::processor::with_provider(provider, doing, f).await?;
    Ok(Done::new(crate::wire::ops::Changed {}, changed))
}

/// Runs an operation on this host.
pub trait Handle: Op {
    fn run(
        ctx: &ExecContext,
        data: Self::Data,
    ) -> impl Future<Output = Result<Done<Self::Payload>, OpError>> + Send;
}

/// `impl Handle` for operations served by one shared handler that differ in one argument:
/// `Op(Data) -> Payload = handler(arg);`.
macro_rules! handled_by {
    ($($op:ty [$data:ty => $payload:ty] = $handler:ident($arg:expr);)*) => {$(
        impl $crate::agent::ops::Handle for $op {
            async fn run(
                ctx: &$crate::agent::processor::ExecContext,
                data: $data,
            ) -> Result<$crate::agent::ops::Done<$payload>, $crate::agent::processor::OpError> {
                $handler(ctx, data, $arg).await
            }
        }
    )*};
}
pub(crate) use handled_by;
