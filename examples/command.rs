//! command: run programs on agents. `command_exec` runs a program with arguments (no
//! shell), `command_shell` a `/bin/sh -c` string; `command_exec_with` also takes a
//! working directory, timeout and environment. Both independent steps run in parallel.
//! A command that ran always reports `changed`; a non-zero exit is the host's error
//! (`exit code N`) while stdout, stderr and exit_code stay in its data.
//!
//! DAG:
//!   run-pwd      (_any, `pwd` in /tmp, 10 s timeout, LC_ALL=C)
//!   shell-echo   (_any, writes to stdout and stderr, exits 3)
//!
//! Run: `cargo run --example command` (with OSAPI_TOKEN set)

use osapi::orchestrator::ops::types::CommandResult;
use osapi::orchestrator::Orchestrator;
use osapi::sdk::CommandExecRequest;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut o = Orchestrator::from_env()?;

    o.command_exec_with(
        "_any",
        CommandExecRequest {
            command: "pwd".into(),
            cwd: Some("/tmp".into()),
            timeout: Some(10), // seconds
            env: [("LC_ALL".to_owned(), "C".to_owned())].into(),
            ..CommandExecRequest::default()
        },
    );
    // The plain form: `o.command_exec("_any", "uname", &["-r"])`.
    o.command_shell(
        "_any",
        "echo hello from the shell; echo a warning >&2; exit 3",
    );

    let report = o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;

    for name in ["run-pwd", "shell-echo"] {
        let task = report.get(name).ok_or("step not reached")?;
        for host in &task.hosts {
            let out: CommandResult = host.decode()?;
            println!(
                "\n{name} on {} (exit code {}, {} ms)",
                host.hostname, out.exit_code, out.duration_ms
            );
            println!("stdout:\n{}", out.stdout.trim_end());
            if !out.stderr.is_empty() {
                println!("stderr:\n{}", out.stderr.trim_end());
            }
            if let Some(error) = &host.error {
                println!("host error: {error}");
            }
        }
    }
    Ok(())
}
