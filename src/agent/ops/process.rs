//! `node.process.*` through the process provider, off the async threads.

use super::{Done, Handle};
use crate::agent::processor::{with_provider, ExecContext, OpError};
use crate::wire::ops::process::{
    NodeProcessGet, NodeProcessList, NodeProcessSignal, ProcessGet, ProcessList, ProcessPid,
    SignalPayload, SignalRequest,
};
use crate::wire::ops::NoInput;

/// A pid the controller validated (1..=2^22), as the kernel's type.
fn pid_of(pid: i64) -> Result<i32, OpError> {
    i32::try_from(pid).map_err(|_| OpError::field("pid", format!("pid {pid} is out of range")))
}

impl Handle for NodeProcessList {
    async fn run(ctx: &ExecContext, _: NoInput) -> Result<Done<ProcessList>, OpError> {
        let doing = "failed to list processes";
        let processes = with_provider(&ctx.providers.processes, doing, |p| p.list()).await?;
        Ok(Done::read(ProcessList { processes }))
    }
}

impl Handle for NodeProcessGet {
    async fn run(ctx: &ExecContext, data: ProcessPid) -> Result<Done<ProcessGet>, OpError> {
        let pid = pid_of(data.pid)?;
        let doing = "failed to read the process";
        let process = with_provider(&ctx.providers.processes, doing, move |p| p.get(pid)).await?;
        Ok(Done::read(ProcessGet { process }))
    }
}

impl Handle for NodeProcessSignal {
    async fn run(ctx: &ExecContext, data: SignalRequest) -> Result<Done<SignalPayload>, OpError> {
        let pid = pid_of(data.pid)?;
        // Checked here too: the controller cannot know the agent's pid, and a job may come
        // from any client.
        if pid == 1 || pid.unsigned_abs() == crate::provider::process::pid() {
            return Err(OpError::field(
                "pid",
                format!("pid {pid} is init or the osapi agent itself: it is never signalled"),
            ));
        }
        let signal = data.signal.clone();
        let doing = "failed to signal the process";
        with_provider(&ctx.providers.processes, doing, move |p| {
            p.signal(pid, &signal)
        })
        .await?;
        Ok(Done::new(
            SignalPayload {
                pid: data.pid,
                signal: data.signal,
            },
            true,
        ))
    }
}
