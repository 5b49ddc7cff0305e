//! `node.log.*` through the log provider, off the async threads.

use super::{Done, Handle};
use crate::agent::processor::{with_provider, ExecContext, OpError};
use crate::wire::ops::log::{
    LogEntries, LogQuery, LogSources, LogUnitQuery, NodeLogQuery, NodeLogSources, NodeLogUnit,
};
use crate::wire::ops::NoInput;

/// Entries of the journal, of one unit when given.
async fn entries(
    ctx: &ExecContext,
    query: LogQuery,
    unit: Option<String>,
) -> Result<Done<LogEntries>, OpError> {
    let entries = with_provider(
        &ctx.providers.logs,
        "failed to read the journal",
        move |p| p.query(&query, unit.as_deref()),
    )
    .await?;
    Ok(Done::read(LogEntries { entries }))
}

impl Handle for NodeLogQuery {
    async fn run(ctx: &ExecContext, data: LogQuery) -> Result<Done<LogEntries>, OpError> {
        entries(ctx, data, None).await
    }
}

impl Handle for NodeLogUnit {
    async fn run(ctx: &ExecContext, data: LogUnitQuery) -> Result<Done<LogEntries>, OpError> {
        entries(ctx, data.query, Some(data.name)).await
    }
}

impl Handle for NodeLogSources {
    async fn run(ctx: &ExecContext, _: NoInput) -> Result<Done<LogSources>, OpError> {
        let doing = "failed to list the journal's sources";
        let sources = with_provider(&ctx.providers.logs, doing, |p| p.sources()).await?;
        Ok(Done::read(LogSources { sources }))
    }
}
