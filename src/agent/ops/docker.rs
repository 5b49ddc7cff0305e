//! `docker.*` through the Docker provider. Its calls are async socket I/O, so they run on
//! the agent's workers, each under its operation's time limit; a long pull keeps its job
//! alive through the consumer's progress acks.

use std::time::Duration;

use futures::future::BoxFuture;

use super::{Done, Handle};
use crate::agent::processor::{ExecContext, OpError};
use crate::provider::docker::Created;
use crate::provider::ProviderError;
use crate::wire::ops::command::CommandPayload;
use crate::wire::ops::docker::{
    ContainerId, ContainerRemove, ContainerStop, DockerAction, DockerContainer,
    DockerContainerList, DockerCreate, DockerCreateRequest, DockerDetail, DockerExec,
    DockerExecRequest, DockerExecResult, DockerImageRemove, DockerInspect, DockerList,
    DockerListQuery, DockerPull, DockerPullResult, DockerRemove, DockerStart, DockerStop, ImageRef,
    ImageRemove, CALL_TIMEOUT,
};
use crate::wire::ops::Op;
use crate::wire::Validate;

/// Checks the job data again (a job may come from any NATS client), then awaits one
/// provider call under `O`'s time limit; a failure says what was being done.
async fn call<O: Op, T>(
    data: &O::Data,
    check: Result<(), crate::wire::FieldError>,
    doing: &str,
    work: BoxFuture<'_, Result<T, ProviderError>>,
) -> Result<T, OpError> {
    check.map_err(|e| OpError::from(e.message))?;
    within(O::time_limit(data).unwrap_or(CALL_TIMEOUT), doing, work).await
}

/// `work`'s outcome, or a failure once `limit` has passed (the call is dropped).
async fn within<T>(
    limit: Duration,
    doing: &str,
    work: BoxFuture<'_, Result<T, ProviderError>>,
) -> Result<T, OpError> {
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result.map_err(|e| OpError::from(e).context(doing)),
        Err(_) => Err(format!("{doing}: no answer within {:?}", limit).into()),
    }
}

impl Handle for DockerCreate {
    async fn run(
        ctx: &ExecContext,
        data: DockerCreateRequest,
    ) -> Result<Done<DockerContainer>, OpError> {
        let docker = &ctx.providers.docker;
        let doing = "failed to create a container";
        let work = docker.create(data.clone());
        match call::<Self, _>(&data, data.validate(), doing, work).await? {
            Created::New(container) => Ok(Done::new(container, true)),
            Created::Existing { container, started } => Ok(Done::new(container, started)),
            Created::NameTaken { image } => Err(OpError::field(
                "name",
                format!(
                    "a container named {:?} already exists from image {image:?}, not {:?}",
                    data.name.unwrap_or_default(),
                    data.image
                ),
            )),
        }
    }
}

impl Handle for DockerList {
    async fn run(
        ctx: &ExecContext,
        data: DockerListQuery,
    ) -> Result<Done<DockerContainerList>, OpError> {
        let state = data.state().map_err(|e| OpError::from(e.message))?;
        let work = ctx.providers.docker.list(state, data.limit);
        let doing = "failed to list containers";
        let containers = call::<Self, _>(&data, data.validate(), doing, work).await?;
        Ok(Done::read(DockerContainerList { containers }))
    }
}

impl Handle for DockerInspect {
    async fn run(ctx: &ExecContext, data: ContainerId) -> Result<Done<DockerDetail>, OpError> {
        let work = ctx.providers.docker.inspect(data.id.clone());
        let doing = "failed to inspect the container";
        Ok(Done::read(
            call::<Self, _>(&data, data.validate(), doing, work).await?,
        ))
    }
}

impl Handle for DockerStart {
    async fn run(ctx: &ExecContext, data: ContainerId) -> Result<Done<DockerAction>, OpError> {
        let work = ctx.providers.docker.start(data.id.clone());
        let doing = "failed to start the container";
        let (answer, changed) = call::<Self, _>(&data, data.validate(), doing, work).await?;
        Ok(Done::new(answer, changed))
    }
}

impl Handle for DockerStop {
    async fn run(ctx: &ExecContext, data: ContainerStop) -> Result<Done<DockerAction>, OpError> {
        let work = ctx.providers.docker.stop(data.id.clone(), data.timeout);
        let doing = "failed to stop the container";
        let (answer, changed) = call::<Self, _>(&data, data.validate(), doing, work).await?;
        Ok(Done::new(answer, changed))
    }
}

impl Handle for DockerRemove {
    async fn run(ctx: &ExecContext, data: ContainerRemove) -> Result<Done<DockerAction>, OpError> {
        let work = ctx.providers.docker.remove(data.id.clone(), data.force);
        let doing = "failed to remove the container";
        let (answer, changed) = call::<Self, _>(&data, data.validate(), doing, work).await?;
        Ok(Done::new(answer, changed))
    }
}

impl Handle for DockerExec {
    /// A command counts as a change, as `command.exec` does.
    async fn run(
        ctx: &ExecContext,
        data: DockerExecRequest,
    ) -> Result<Done<DockerExecResult>, OpError> {
        let work = ctx.providers.docker.exec(data.clone(), ctx.max_output);
        let doing = "failed to exec in the container";
        let result = call::<Self, _>(&data, data.validate(), doing, work).await?;
        Ok(Done::new(fit_in_message(result), true))
    }
}

/// The exec's streams cut, as a command's are, until its answer fits one NATS message.
fn fit_in_message(r: DockerExecResult) -> DockerExecResult {
    let mut p = CommandPayload {
        stdout: r.stdout,
        stderr: r.stderr,
        exit_code: 0,
        duration_ms: 0,
        stdout_truncated: r.stdout_truncated,
        stderr_truncated: r.stderr_truncated,
        output_limit: 0,
    };
    super::command::fit_in_message(&mut p, super::command::MAX_ENCODED);
    DockerExecResult {
        stdout: p.stdout,
        stderr: p.stderr,
        exit_code: r.exit_code,
        stdout_truncated: p.stdout_truncated,
        stderr_truncated: p.stderr_truncated,
    }
}

impl Handle for DockerPull {
    async fn run(ctx: &ExecContext, data: ImageRef) -> Result<Done<DockerPullResult>, OpError> {
        let work = ctx.providers.docker.pull(data.image.clone());
        let doing = "failed to pull the image";
        let (answer, changed) = call::<Self, _>(&data, data.validate(), doing, work).await?;
        Ok(Done::new(answer, changed))
    }
}

impl Handle for DockerImageRemove {
    async fn run(ctx: &ExecContext, data: ImageRemove) -> Result<Done<DockerAction>, OpError> {
        let work = ctx
            .providers
            .docker
            .remove_image(data.image.clone(), data.force);
        let doing = "failed to remove the image";
        let (answer, changed) = call::<Self, _>(&data, data.validate(), doing, work).await?;
        Ok(Done::new(answer, changed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_call_past_its_limit_fails_and_a_skip_stays_a_skip() {
        let hung: BoxFuture<'_, Result<(), ProviderError>> = Box::pin(futures::future::pending());
        let err = within(Duration::from_millis(20), "failed to pull the image", hung)
            .await
            .unwrap_err();
        assert_eq!(
            err.message,
            "failed to pull the image: no answer within 20ms"
        );
        assert!(!err.skipped);
        let absent: BoxFuture<'_, Result<(), ProviderError>> = Box::pin(async {
            Err(ProviderError::Unsupported(
                "no Docker daemon answers on /x".into(),
            ))
        });
        let skip = within(Duration::from_secs(1), "failed to list containers", absent)
            .await
            .unwrap_err();
        assert!(skip.skipped);
        assert_eq!(skip.message, "no Docker daemon answers on /x");
    }
}
