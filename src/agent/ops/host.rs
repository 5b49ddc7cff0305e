//! `node.hostname.update`, `node.timezone.update`, `node.power.*`: host settings through
//! the host provider, off the async threads.

use super::{change, Done, Handle};
use crate::agent::processor::{with_provider, ExecContext, OpError};
use crate::provider::host::PowerAction;
use crate::wire::ops::host::{
    Changed, HostnameUpdateRequest, NodeHostnameUpdate, NodePowerReboot, NodePowerShutdown,
    NodeTimezoneUpdate, PowerPayload, PowerRequest, TimezoneUpdatePayload, TimezoneUpdateRequest,
};

impl Handle for NodeHostnameUpdate {
    async fn run(ctx: &ExecContext, data: HostnameUpdateRequest) -> Result<Done<Changed>, OpError> {
        let (host, name) = (&ctx.providers.host, data.hostname.clone());
        let done = change(host, "failed to set the hostname", move |h| {
            h.set_hostname(&name)
        })
        .await?;
        follow_rename(ctx, data.hostname);
        Ok(done)
    }
}

/// Lets the registry entry name the host as it is now called. The agent's identity (its
/// key, consumer and NATS user) stays until it restarts: the user may only write under it.
fn follow_rename(ctx: &ExecContext, name: String) {
    let now = (name != ctx.hostname).then_some(name);
    ctx.renamed.send_if_modified(|current| {
        let differs = *current != now;
        if differs {
            *current = now;
        }
        differs
    });
}

impl Handle for NodeTimezoneUpdate {
    async fn run(
        ctx: &ExecContext,
        data: TimezoneUpdateRequest,
    ) -> Result<Done<TimezoneUpdatePayload>, OpError> {
        let (host, zone) = (&ctx.providers.host, data.timezone.clone());
        let doing = "failed to set the time zone";
        let changed = with_provider(host, doing, move |h| h.set_timezone(&zone)).await?;
        let payload = TimezoneUpdatePayload {
            timezone: data.timezone,
        };
        Ok(Done::new(payload, changed))
    }
}

/// Schedules `action`; the job answers at once, well before the host goes down.
async fn power(
    ctx: &ExecContext,
    action: PowerAction,
    data: PowerRequest,
) -> Result<Done<PowerPayload>, OpError> {
    let doing = format!("failed to schedule a {}", action.as_str());
    let delay = with_provider(&ctx.providers.host, &doing, move |h| {
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
