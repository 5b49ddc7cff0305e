//! Running commands: a program with arguments (no shell) or a `/bin/sh -c` string, in its
//! own process group, with a timeout that kills the whole group and capped output.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

use super::ProviderError;
use crate::wire::ops::command::CommandPayload;

/// What to run.
#[derive(Debug, Clone)]
pub enum Program {
    /// Executed directly; arguments arrive verbatim.
    Exec { command: String, args: Vec<String> },
    /// Run by `/bin/sh -c`.
    Shell { script: String },
}

/// A command and its limits.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    pub program: Program,
    /// Working directory; the agent's own when `None`.
    pub cwd: Option<PathBuf>,
    /// Added to the agent's environment.
    pub env: BTreeMap<String, String>,
    /// After this the whole process group is killed.
    pub timeout: Duration,
    /// Bytes kept of each of stdout and stderr.
    pub max_output: usize,
    /// What the command reads on stdin (nothing: `/dev/null`).
    pub stdin: Stdin,
}

/// Bytes written to a command's stdin, then closed. They may be a secret (`chpasswd`'s
/// input), so `Debug` shows only their length.
#[derive(Clone, Default)]
pub struct Stdin(pub Vec<u8>);

impl std::fmt::Debug for Stdin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Stdin({} bytes)", self.0.len())
    }
}

/// Writes `input` to the child's stdin and closes it (a child that exits without reading
/// it all is not an error: its exit status says how it went).
async fn feed(stdin: Option<tokio::process::ChildStdin>, input: Vec<u8>) {
    use tokio::io::AsyncWriteExt;
    if let Some(mut pipe) = stdin {
        let _ = pipe.write_all(&input).await;
    }
}

/// What it did: the wire result (output capped at `max_output`, which it records) and
/// whether the timeout struck, which the agent turns into an error instead of a result.
#[derive(Debug, Clone)]
pub struct CommandOutput {
    pub result: CommandPayload,
    /// The timeout struck and the process group was killed.
    pub timed_out: bool,
}

/// Runs commands.
pub trait CommandRunner: Send + Sync {
    /// Runs `spec` to completion or its timeout. A non-zero exit or a timeout is an
    /// output, not an error; errors mean it could not start.
    fn run(
        &self,
        spec: CommandSpec,
    ) -> Pin<Box<dyn Future<Output = Result<CommandOutput, ProviderError>> + Send + '_>>;
}

/// tokio processes on this host.
pub struct LinuxCommand;

/// After the group is killed, how long to wait for the pipes to close: a descendant that
/// left the group (`setsid`) could hold them open forever.
const DRAIN_AFTER_KILL: Duration = Duration::from_secs(2);

/// Up to a cap of one output stream; the rest is counted as truncated and dropped.
pub(crate) struct Capped {
    kept: Vec<u8>,
    cap: usize,
    truncated: bool,
}

impl Capped {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            kept: Vec::with_capacity(cap.min(64 * 1024)),
            cap,
            truncated: false,
        }
    }

    /// Keeps what fits of `bytes`, flagging the rest as dropped.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        let room = self.cap.saturating_sub(self.kept.len());
        self.kept.extend_from_slice(&bytes[..bytes.len().min(room)]);
        self.truncated |= bytes.len() > room;
    }

    /// Lossy UTF-8, without a replacement character where the cap split a character.
    pub(crate) fn into_string(self) -> (String, bool) {
        let mut bytes = self.kept;
        if self.truncated {
            if let Err(e) = std::str::from_utf8(&bytes) {
                // `error_len() == None`: the bytes end inside a character.
                if e.error_len().is_none() {
                    bytes.truncate(e.valid_up_to());
                }
            }
        }
        let text = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        (text, self.truncated)
    }
}

/// Reads a stream to its end into `into`, so a chatty command neither blocks on a full
/// pipe nor fills memory. Writes into a borrowed buffer so that what was read survives
/// when the caller stops waiting.
async fn read_capped(stream: Option<impl AsyncRead + Unpin>, into: &mut Capped) {
    let Some(mut stream) = stream else { return };
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => into.push(&buf[..n]),
        }
    }
}

/// SIGKILLs the command's process group when dropped, also when the caller abandons the
/// run (job cancelled, agent shutting down), so nothing it started lingers.
struct GroupGuard(Option<Pid>);

impl GroupGuard {
    fn kill(&self) {
        if let Some(pgid) = self.0 {
            // ESRCH: the group is already gone, which is the goal.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn_error(program: &str, e: std::io::Error) -> ProviderError {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            ProviderError::NotFound(format!("command not found: {program}"))
        }
        std::io::ErrorKind::PermissionDenied => {
            ProviderError::PermissionDenied(format!("cannot execute {program}: {e}"))
        }
        _ => ProviderError::Failed(format!("cannot execute {program}: {e}")),
    }
}

/// A usable working directory, or why not (checked up front: a failed `chdir` in the
/// child would otherwise read as "command not found").
fn check_cwd(dir: &Path) -> Result<(), ProviderError> {
    let shown = dir.display();
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(ProviderError::InvalidInput(format!(
            "working directory {shown} is not a directory"
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(ProviderError::NotFound(
            format!("working directory {shown} does not exist"),
        )),
        Err(e) => Err(ProviderError::from_io(
            &format!("working directory {shown}"),
            e,
        )),
    }
}

/// Runs `spec` to completion: the command is done when its process exits; what it left
/// running in its process group is killed then, and the whole group is killed at the
/// timeout.
async fn run(spec: CommandSpec) -> Result<CommandOutput, ProviderError> {
    let (mut cmd, name) = match &spec.program {
        Program::Exec { command, args } => {
            if command.is_empty() {
                return Err(ProviderError::InvalidInput("empty command".into()));
            }
            // No shell: each argument reaches the program exactly as given.
            let mut c = Command::new(command);
            c.args(args);
            (c, command.as_str())
        }
        Program::Shell { script } => {
            let mut c = Command::new("/bin/sh");
            c.arg("-c").arg(script);
            (c, "/bin/sh")
        }
    };
    if let Some(dir) = &spec.cwd {
        check_cwd(dir)?;
        cmd.current_dir(dir);
    }
    let stdin = if spec.stdin.0.is_empty() {
        Stdio::null()
    } else {
        Stdio::piped()
    };
    cmd.envs(&spec.env)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so one signal reaches everything it starts.
        .process_group(0)
        .kill_on_drop(true);

    let started = Instant::now();
    // A timeout too large to add (u64::MAX seconds) means "a century", not a panic.
    let now = tokio::time::Instant::now();
    let deadline = now
        .checked_add(spec.timeout)
        .unwrap_or_else(|| now + Duration::from_secs(100 * 365 * 24 * 3600));
    let mut child = cmd.spawn().map_err(|e| spawn_error(name, e))?;
    // With process_group(0) the group id is the child's pid.
    let group = GroupGuard(
        child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(Pid::from_raw),
    );
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let input = feed(child.stdin.take(), spec.stdin.0.clone());
    let (mut out, mut err) = (Capped::new(spec.max_output), Capped::new(spec.max_output));

    let (status, timed_out) = {
        let mut reads = Box::pin(async {
            tokio::join!(
                read_capped(stdout, &mut out),
                read_capped(stderr, &mut err),
                input
            )
        });
        let mut reads_done = false;
        let mut wait = Box::pin(child.wait());
        let outcome = loop {
            tokio::select! {
                status = &mut wait => break (status.ok(), false),
                _ = &mut reads, if !reads_done => reads_done = true,
                () = tokio::time::sleep_until(deadline) => {
                    group.kill();
                    // Bounded: a leader we may not signal (a setuid program) would
                    // otherwise be waited for forever.
                    let status = tokio::time::timeout(DRAIN_AFTER_KILL, &mut wait).await;
                    break (status.ok().and_then(Result::ok), true);
                }
            }
        };
        // Leftover descendants still hold the pipes open; end them, then collect what
        // was written, within bounds.
        group.kill();
        if !reads_done {
            let _ = tokio::time::timeout(DRAIN_AFTER_KILL, &mut reads).await;
        }
        outcome
    };

    use std::os::unix::process::ExitStatusExt;
    let exit_code = status.map_or(-1, |s| {
        s.code()
            .unwrap_or_else(|| 128 + s.signal().unwrap_or_default())
    });
    let (stdout, stdout_truncated) = out.into_string();
    let (stderr, stderr_truncated) = err.into_string();
    Ok(CommandOutput {
        result: CommandPayload {
            stdout,
            stderr,
            exit_code,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            stdout_truncated,
            stderr_truncated,
            output_limit: spec.max_output as u64,
        },
        timed_out,
    })
}

impl CommandRunner for LinuxCommand {
    fn run(
        &self,
        spec: CommandSpec,
    ) -> Pin<Box<dyn Future<Output = Result<CommandOutput, ProviderError>> + Send + '_>> {
        Box::pin(run(spec))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(program: Program, timeout_ms: u64) -> CommandSpec {
        CommandSpec {
            program,
            cwd: None,
            env: BTreeMap::new(),
            timeout: Duration::from_millis(timeout_ms),
            max_output: 1024,
            stdin: Stdin::default(),
        }
    }

    fn exec(command: &str, args: &[&str]) -> Program {
        Program::Exec {
            command: command.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    fn shell(script: &str) -> Program {
        Program::Shell {
            script: script.into(),
        }
    }

    /// Runs `program` with a 1 KiB cap; the run itself must not fail.
    async fn run_ok(program: Program, timeout_ms: u64) -> CommandOutput {
        LinuxCommand.run(spec(program, timeout_ms)).await.unwrap()
    }

    /// [`run_ok`], with how long it took.
    async fn run_timed(program: Program, timeout_ms: u64) -> (CommandOutput, Duration) {
        let started = Instant::now();
        let out = run_ok(program, timeout_ms).await;
        (out, started.elapsed())
    }

    /// The pid a test script printed first (`echo $!`).
    fn printed_pid(out: &CommandOutput) -> i32 {
        out.result.stdout.trim().parse().unwrap()
    }

    /// Gone, or a zombie waiting for init to reap it: either way no longer running.
    fn is_gone(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        }
    }

    /// Whether `pid` is gone within 2 s: a process closes its pipes before it becomes a
    /// zombie, so right after the run returns it may still be finishing its exit.
    async fn gone_soon(pid: i32) -> bool {
        let poll = async {
            while !is_gone(pid) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(2), poll)
            .await
            .is_ok()
    }

    #[tokio::test]
    async fn arguments_arrive_verbatim() {
        let out = run_ok(
            exec("printf", &["%s\n", "a b", "c\"d", "e'f", "$HOME", "*", ""]),
            5000,
        )
        .await;
        assert_eq!(out.result.stdout, "a b\nc\"d\ne'f\n$HOME\n*\n\n");
        assert_eq!(out.result.exit_code, 0);
        assert!(!out.timed_out && !out.result.stdout_truncated);
    }

    #[tokio::test]
    async fn exit_codes_signals_stderr_env_and_cwd() {
        let out = run_ok(shell("echo e >&2; exit 7"), 5000).await;
        assert_eq!(
            (out.result.exit_code, out.result.stderr.as_str()),
            (7, "e\n")
        );

        let out = run_ok(shell("kill -TERM $$"), 5000).await;
        assert_eq!(out.result.exit_code, 128 + 15);

        let dir = tempfile::tempdir().unwrap();
        let mut s = spec(shell("printf '%s %s' \"$OSAPI_T\" \"$(pwd)\""), 5000);
        s.env.insert("OSAPI_T".into(), "x y".into());
        s.cwd = Some(dir.path().to_path_buf());
        let out = LinuxCommand.run(s).await.unwrap();
        let cwd = dir.path().canonicalize().unwrap();
        assert_eq!(out.result.stdout, format!("x y {}", cwd.display()));
    }

    #[tokio::test]
    async fn output_is_capped_not_buffered_whole() {
        let started = Instant::now();
        let out = run_ok(
            shell("head -c 10000000 /dev/zero; head -c 3000000 /dev/zero >&2; exit 3"),
            30_000,
        )
        .await;
        assert_eq!(
            (out.result.stdout.len(), out.result.stderr.len()),
            (1024, 1024)
        );
        assert!(out.result.stdout_truncated && out.result.stderr_truncated);
        // The command ran to its end: the pipes were drained, not left to block it.
        assert_eq!(out.result.exit_code, 3);
        assert!(!out.timed_out);
        assert!(started.elapsed() < Duration::from_secs(30));
    }

    #[tokio::test]
    async fn huge_timeout_and_zero_cap_are_fine() {
        let mut s = spec(shell("echo hi"), 0);
        s.timeout = Duration::MAX;
        s.max_output = 0;
        let out = LinuxCommand.run(s).await.unwrap();
        assert_eq!(
            (out.result.stdout.as_str(), out.result.stdout_truncated),
            ("", true)
        );
        assert!(!out.timed_out);
    }

    #[test]
    fn truncation_does_not_split_characters() {
        let mut c = Capped::new(4);
        c.kept = "aé€".as_bytes()[..4].to_vec(); // a, é, first byte of €
        c.truncated = true;
        assert_eq!(c.into_string(), ("aé".to_string(), true));
    }

    #[tokio::test]
    async fn timeout_kills_children_and_grandchildren() {
        let (out, took) = run_timed(shell("sleep 30 & echo $!; sleep 30; wait"), 1000).await;
        assert!(out.timed_out && took < Duration::from_secs(5), "{out:?}");
        assert_eq!(out.result.exit_code, 128 + 9);
        // Output written before the timeout is kept.
        let pid = printed_pid(&out);
        assert!(gone_soon(pid).await, "grandchild {pid} still running");
    }

    #[tokio::test]
    async fn leftover_background_processes_do_not_hold_the_result() {
        // The shell exits at once; its background child keeps stdout open.
        let (out, took) = run_timed(shell("sleep 30 & echo $!"), 20_000).await;
        assert!(!out.timed_out && out.result.exit_code == 0, "{out:?}");
        assert!(took < Duration::from_secs(10), "{out:?}");
        let pid = printed_pid(&out);
        assert!(gone_soon(pid).await, "background child {pid} still running");
    }

    #[tokio::test]
    async fn escaped_descendant_holding_pipes_is_bounded() {
        // setsid leaves the group, so the kill cannot reach it; the wait for its pipes
        // must still end. It is killed here by pid afterwards.
        let (out, took) = run_timed(shell("setsid sleep 30 & echo $!; sleep 30"), 500).await;
        assert!(out.timed_out && took < Duration::from_secs(5), "{out:?}");
        if let Ok(pid) = out.result.stdout.trim().parse::<i32>() {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }

    #[tokio::test]
    async fn dropping_the_run_kills_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("pid");
        let script = format!("sleep 30 & echo $! > {}; wait", pidfile.display());
        let run = LinuxCommand.run(spec(Program::Shell { script }, 60_000));
        let _ = tokio::time::timeout(Duration::from_millis(500), run).await;
        let pid: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(gone_soon(pid).await, "grandchild {pid} still running");
    }

    #[tokio::test]
    async fn missing_program_and_bad_cwd_are_clear() {
        let err = LinuxCommand
            .run(spec(exec("no-such-xyz", &[]), 1000))
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::NotFound(_)), "{err}");
        assert!(
            err.to_string().contains("command not found: no-such-xyz"),
            "{err}"
        );

        let err = LinuxCommand
            .run(spec(exec("", &[]), 1000))
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::InvalidInput(_)), "{err}");

        let mut s = spec(exec("ls", &[]), 1000);
        s.cwd = Some("/nonexistent-dir".into());
        let err = LinuxCommand.run(s).await.unwrap_err();
        assert!(err.to_string().contains("/nonexistent-dir"), "{err}");
        assert!(err.to_string().contains("does not exist"), "{err}");

        let file = tempfile::NamedTempFile::new().unwrap();
        let mut s = spec(exec("ls", &[]), 1000);
        s.cwd = Some(file.path().to_path_buf());
        let err = LinuxCommand.run(s).await.unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }
}
