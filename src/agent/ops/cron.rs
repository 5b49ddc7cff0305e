//! `schedule.cron.*`: the script fetched from the object store (rendered when a
//! template), then handed to the cron provider, off the async threads.

use super::file::object_content;
use super::{Done, Handle};
use crate::agent::processor::{with_provider, ExecContext, OpError};
use crate::provider::cron::CronRecord;
use crate::wire::ops::cron::{
    CronCreate, CronEntry, CronList, CronName, CronUpdate, ScheduleCronCreate, ScheduleCronDelete,
    ScheduleCronGet, ScheduleCronList, ScheduleCronUpdate,
};
use crate::wire::ops::{Named, NoInput};
use crate::wire::Validate;

/// The job data checked again on the host: names become file names here.
fn checked(data: &impl Validate) -> Result<(), OpError> {
    data.validate().map_err(|e| OpError::from(e.message))
}

/// Renders `record`'s object and installs it; the answer names the entry.
async fn install(
    ctx: &ExecContext,
    record: CronRecord,
    create: bool,
    doing: &'static str,
) -> Result<Done<Named>, OpError> {
    let script = object_content(
        ctx,
        &record.entry.object,
        record.content_type.as_deref(),
        &record.vars,
    )
    .await
    .map_err(|e| e.context(doing))?;
    let name = record.entry.name.clone();
    let changed = with_provider(&ctx.providers.cron, doing, move |p| {
        p.put(&record, &script, create)
    })
    .await?;
    Ok(Done::new(Named { name }, changed))
}

impl Handle for ScheduleCronList {
    async fn run(ctx: &ExecContext, _: NoInput) -> Result<Done<CronList>, OpError> {
        let doing = "failed to list cron entries";
        let entries = with_provider(&ctx.providers.cron, doing, |p| p.list()).await?;
        Ok(Done::read(CronList { entries }))
    }
}

impl Handle for ScheduleCronGet {
    async fn run(ctx: &ExecContext, data: CronName) -> Result<Done<CronEntry>, OpError> {
        checked(&data)?;
        let doing = "failed to read a cron entry";
        let record = with_provider(&ctx.providers.cron, doing, move |p| p.get(&data.name)).await?;
        Ok(Done::read(record.entry))
    }
}

impl Handle for ScheduleCronCreate {
    async fn run(ctx: &ExecContext, data: CronCreate) -> Result<Done<Named>, OpError> {
        checked(&data)?;
        let source = data.interval.map_or("cron.d", |i| i.as_str()).to_owned();
        let record = CronRecord {
            entry: CronEntry {
                name: data.name,
                object: data.object,
                schedule: data.schedule,
                interval: data.interval,
                source,
                user: data.user,
            },
            content_type: data.content_type,
            vars: data.vars,
        };
        install(ctx, record, true, "failed to create a cron entry").await
    }
}

impl Handle for ScheduleCronUpdate {
    /// The stored entry with the fields the request gives replaced.
    async fn run(ctx: &ExecContext, data: CronUpdate) -> Result<Done<Named>, OpError> {
        checked(&data)?;
        let doing = "failed to update a cron entry";
        let name = data.name.clone();
        let mut record = with_provider(&ctx.providers.cron, doing, move |p| p.get(&name)).await?;
        if record.entry.interval.is_some() && (data.schedule.is_some() || data.user.is_some()) {
            let field = if data.schedule.is_some() {
                "schedule"
            } else {
                "user"
            };
            return Err(OpError::field(
                field,
                format!("{doing}: {field} does not apply to an interval entry"),
            ));
        }
        let e = &mut record.entry;
        e.object = data.object.unwrap_or(std::mem::take(&mut e.object));
        e.schedule = data.schedule.or(e.schedule.take());
        e.user = data.user.or(e.user.take());
        record.content_type = data.content_type.or(record.content_type);
        if !data.vars.is_empty() {
            record.vars = data.vars;
        }
        install(ctx, record, false, doing).await
    }
}

impl Handle for ScheduleCronDelete {
    async fn run(ctx: &ExecContext, data: CronName) -> Result<Done<Named>, OpError> {
        checked(&data)?;
        let doing = "failed to delete a cron entry";
        let name = data.name.clone();
        let changed = with_provider(&ctx.providers.cron, doing, move |p| p.delete(&name)).await?;
        Ok(Done::new(Named { name: data.name }, changed))
    }
}
