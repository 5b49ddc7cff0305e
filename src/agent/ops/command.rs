//! `command.exec.execute` and `command.shell.execute`.

use std::path::PathBuf;
use std::time::Duration;

use super::Done;
use crate::agent::processor::{ExecContext, OpError};
use crate::provider::command::{CommandSpec, Program};
use crate::wire::ops::command::{
    CommandData, CommandExec, CommandPayload, CommandShell, DEFAULT_TIMEOUT_SECS,
};

super::handled_by! {
    CommandExec [CommandData => CommandPayload] = exec(false);
    CommandShell [CommandData => CommandPayload] = exec(true);
}

/// Runs the command. A non-zero exit is a result, not an error; a timeout is an error
/// (the whole process group was killed). A command counts as a change.
async fn exec(
    ctx: &ExecContext,
    data: CommandData,
    shell: bool,
) -> Result<Done<CommandPayload>, OpError> {
    let timeout = Duration::from_secs(data.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS));
    let program = if shell {
        Program::Shell {
            script: data.command,
        }
    } else {
        Program::Exec {
            command: data.command,
            args: data.args,
        }
    };
    let spec = CommandSpec {
        program,
        cwd: data.cwd.map(PathBuf::from),
        env: data.env,
        timeout,
        max_output: ctx.max_output,
        stdin: Default::default(),
    };
    let out = ctx
        .providers
        .command
        .run(spec)
        .await
        .map_err(|e| format!("command failed: {e}"))?;
    if out.timed_out {
        return Err(format!(
            "command timed out after {}s (process group killed)",
            timeout.as_secs()
        )
        .into());
    }
    let mut p = out.result;
    fit_in_message(&mut p, MAX_ENCODED);
    Ok(Done {
        payload: p,
        changed: true,
    })
}

/// Encoded bytes a result may take: under NATS's default 1 MiB message limit, with room
/// for the response envelope.
pub(super) const MAX_ENCODED: usize = 900 * 1024;

/// Control bytes grow up to six-fold in JSON (`\u0000`): cut the longer stream until the
/// encoded result fits one message, flagging what was cut.
pub(super) fn fit_in_message(p: &mut CommandPayload, budget: usize) {
    let size = |p: &CommandPayload| serde_json::to_vec(p).map_or(usize::MAX, |v| v.len());
    while size(p) > budget && !(p.stdout.is_empty() && p.stderr.is_empty()) {
        let (text, flag) = if p.stdout.len() >= p.stderr.len() {
            (&mut p.stdout, &mut p.stdout_truncated)
        } else {
            (&mut p.stderr, &mut p.stderr_truncated)
        };
        let mut cut = text.len() / 2;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        *flag = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_output_is_cut_to_fit_one_message() {
        let mut p = CommandPayload {
            stdout: "\0".repeat(300_000),
            stderr: "é".repeat(10),
            exit_code: 0,
            duration_ms: 1,
            stdout_truncated: false,
            stderr_truncated: false,
            output_limit: 300_000,
        };
        fit_in_message(&mut p, 100_000);
        assert!(serde_json::to_vec(&p).unwrap().len() <= 100_000);
        assert!(p.stdout_truncated && !p.stdout.is_empty());
        assert_eq!(p.stderr, "é".repeat(10));
    }
}
