//! `node.hostname.update`, `node.timezone.update`, `node.power.*`: host settings through
//! the host provider, off the async threads.

use super::{Done, Handle};
use crate::agent::processor::{blocking, ExecContext, OpError};
use crate::provider::host::{HostSettings, PowerAction};
use crate::provider::ProviderError;
use crate::wire::ops::host::{
    Changed, HostnameUpdateRequest, NodeHostnameUpdate, NodePowerReboot, NodePowerShutdown,
    NodeTimezoneUpdate, PowerPayload, PowerRequest, TimezoneUpdatePayload, TimezoneUpdateRequest,
};

/// One host-settings change, its failure saying what was being done.
async fn change<T: Send + 'static>(
    ctx: &ExecContext,
    doing: &str,
    f: impl FnOnce(&dyn HostSettings) -> Result<T, ProviderError> + Send + 'static,
) -> Result<T, OpError> {
    let host = ctx.providers.host.clone();
    blocking(move || f(host.as_ref()))
        .await
        .map_err(|e| e.context(doing))
}

impl Handle for NodeHostnameUpdate {
    async fn run(ctx: &ExecContext, data: HostnameUpdateRequest) -> Result<Done<Changed>, OpError> {
        let name = data.hostname;
        let changed = change(ctx, "failed to set the hostname", move |h| {
            h.set_hostname(&name)
        })
        .await?;
        Ok(Done {
            payload: Changed {},
            changed,
        })
    }
}

impl Handle for NodeTimezoneUpdate {
    async fn run(
        ctx: &ExecContext,
        data: TimezoneUpdateRequest,
    ) -> Result<Done<TimezoneUpdatePayload>, OpError> {
        let zone = data.timezone.clone();
        let changed = change(ctx, "failed to set the time zone", move |h| {
            h.set_timezone(&zone)
        })
        .await?;
        Ok(Done {
            payload: TimezoneUpdatePayload {
                timezone: data.timezone,
            },
            changed,
        })
    }
}

/// Schedules `action`; the job answers at once, well before the host goes down.
async fn power(
    ctx: &ExecContext,
    action: PowerAction,
    data: PowerRequest,
) -> Result<Done<PowerPayload>, OpError> {
    let doing = format!("failed to schedule a {}", action.as_str());
    let delay = change(ctx, &doing, move |h| {
        h.schedule_power(action, data.delay.unwrap_or(0), data.message.as_deref())
    })
    .await?;
    Ok(Done {
        payload: PowerPayload {
            action: action.as_str().to_owned(),
            delay,
        },
        changed: true,
    })
}

impl Handle for NodePowerReboot {
    async fn run(ctx: &ExecContext, data: PowerRequest) -> Result<Done<PowerPayload>, OpError> {
        power(ctx, PowerAction::Reboot, data).await
    }
}

impl Handle for NodePowerShutdown {
    async fn run(ctx: &ExecContext, data: PowerRequest) -> Result<Done<PowerPayload>, OpError> {
        power(ctx, PowerAction::Shutdown, data).await
    }
}
