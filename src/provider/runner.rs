//! The seam through which providers run the system's own tools (`hostnamectl`,
//! `timedatectl`, `shutdown`, `sysctl`, ...): argument vectors, never a shell string, with
//! a timeout and capped output. Tests plug in [`RecordingRunner`], which runs nothing and
//! records every argument vector.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use super::command::{CommandRunner, CommandSpec, LinuxCommand, Program, Stdin};
use super::ProviderError;

/// How long one tool may run before its process group is killed.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes kept of each of a tool's output streams.
const TOOL_OUTPUT: usize = 64 * 1024;

/// What a tool printed, and how it exited.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ToolOutput {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl ToolOutput {
    /// The output of a successful run; a non-zero exit is an error naming the tool and
    /// quoting what it said.
    pub fn success(self, argv: &[&str]) -> Result<String, ProviderError> {
        if self.exit_code == 0 {
            return Ok(self.stdout);
        }
        let said = self.stderr.trim();
        let said = if said.is_empty() {
            self.stdout.trim()
        } else {
            said
        };
        Err(ProviderError::Failed(format!(
            "{} exited {}: {said}",
            argv.join(" "),
            self.exit_code
        )))
    }
}

/// Runs system tools. Called from blocking threads (providers are synchronous).
pub trait Runner: Send + Sync {
    /// Runs `argv[0]` with the rest as its arguments. `Ok` whatever the exit code; a tool
    /// that cannot be started is an error naming it.
    fn run(&self, argv: &[&str]) -> Result<ToolOutput, ProviderError>;
    /// [`Runner::run`] with `input` written to the tool's stdin: how a secret reaches a
    /// tool (`chpasswd`), never on its argument vector, where every user can read it.
    fn run_with_input(&self, argv: &[&str], input: &[u8]) -> Result<ToolOutput, ProviderError>;
    /// [`Runner::run`] keeping `max_output` bytes of each stream instead of the usual
    /// 64 KiB (a reader that knows how much it can use: the journal).
    fn run_capped(&self, argv: &[&str], _max_output: usize) -> Result<ToolOutput, ProviderError> {
        self.run(argv)
    }
    /// Whether `program` is installed (on `PATH`).
    fn has(&self, program: &str) -> bool;

    /// [`Runner::run`] for a tool that may take longer than the usual limit (a package
    /// install): killed after `timeout` instead.
    fn run_for(&self, argv: &[&str], _timeout: Duration) -> Result<ToolOutput, ProviderError> {
        self.run(argv)
    }

    /// Runs `argv` and requires a zero exit; its stdout.
    fn check(&self, argv: &[&str]) -> Result<String, ProviderError> {
        self.run(argv)?.success(argv)
    }

    /// [`Runner::run_with_input`], requiring a zero exit; its stdout.
    fn check_with_input(&self, argv: &[&str], input: &[u8]) -> Result<String, ProviderError> {
        self.run_with_input(argv, input)?.success(argv)
    }
}

/// Runs tools on this host, through the command provider's process-group handling.
pub struct SystemRunner;

impl Runner for SystemRunner {
    fn run(&self, argv: &[&str]) -> Result<ToolOutput, ProviderError> {
        self.exec(argv, &[], TOOL_TIMEOUT, TOOL_OUTPUT)
    }

    fn run_with_input(&self, argv: &[&str], input: &[u8]) -> Result<ToolOutput, ProviderError> {
        self.exec(argv, input, TOOL_TIMEOUT, TOOL_OUTPUT)
    }

    fn run_for(&self, argv: &[&str], timeout: Duration) -> Result<ToolOutput, ProviderError> {
        self.exec(argv, &[], timeout, TOOL_OUTPUT)
    }

    fn run_capped(&self, argv: &[&str], max_output: usize) -> Result<ToolOutput, ProviderError> {
        self.exec(argv, &[], TOOL_TIMEOUT, max_output)
    }

    fn has(&self, program: &str) -> bool {
        super::system::which(program).is_some()
    }
}

impl SystemRunner {
    /// Runs `argv` with `input` on its stdin, killed after `timeout`, keeping
    /// `max_output` bytes of each stream.
    fn exec(
        &self,
        argv: &[&str],
        input: &[u8],
        timeout: Duration,
        max_output: usize,
    ) -> Result<ToolOutput, ProviderError> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| ProviderError::InvalidInput("empty argument vector".into()))?;
        let spec = CommandSpec {
            program: Program::Exec {
                command: (*program).to_owned(),
                args: args.iter().map(|a| (*a).to_owned()).collect(),
            },
            cwd: None,
            env: BTreeMap::from([("LC_ALL".to_owned(), "C".to_owned())]),
            timeout,
            max_output,
            stdin: Stdin(input.to_vec()),
        };
        let out = block_on(LinuxCommand.run(spec))?;
        if out.timed_out {
            return Err(ProviderError::Failed(format!(
                "{program} did not finish within {}s",
                timeout.as_secs()
            )));
        }
        Ok(ToolOutput {
            exit_code: out.result.exit_code,
            stdout: out.result.stdout,
            stderr: out.result.stderr,
        })
    }
}

/// Drives an async run from a provider's blocking thread: on the agent's runtime when
/// there is one, else on a small one of its own.
fn block_on<T>(
    run: impl std::future::Future<Output = Result<T, ProviderError>>,
) -> Result<T, ProviderError> {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.block_on(run),
        Err(_) => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| ProviderError::Failed(format!("cannot start a runtime: {e}")))?
            .block_on(run),
    }
}

/// A runner for tests: runs nothing, records every argument vector, and answers with
/// the output set for a program (empty success by default). Tools listed as missing
/// are reported absent by [`Runner::has`] and fail to start. Of a tool given stdin it
/// records only that it was, and how many bytes: never the bytes (a password).
///
/// [`RecordingRunner::passing_to`] makes one that records and then really runs each tool
/// with another runner (tools acting on a temp root, such as `useradd --root`).
#[derive(Default)]
pub struct RecordingRunner {
    calls: Mutex<Vec<Vec<String>>>,
    fed: Mutex<Vec<(Vec<String>, usize)>>,
    answers: Mutex<BTreeMap<String, ToolOutput>>,
    /// Answers for one exact argument vector (joined by spaces), before the program's.
    answers_by_argv: Mutex<BTreeMap<String, ToolOutput>>,
    missing: Mutex<BTreeSet<String>>,
    inner: Option<Arc<dyn Runner>>,
}

impl std::fmt::Debug for RecordingRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordingRunner")
            .field("calls", &self.calls())
            .field("passing", &self.inner.is_some())
            .finish_non_exhaustive()
    }
}

impl RecordingRunner {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// A runner that records every call, then runs it with `inner`.
    pub fn passing_to(inner: Arc<dyn Runner>) -> Arc<Self> {
        Arc::new(Self {
            inner: Some(inner),
            ..Self::default()
        })
    }

    /// The argument vectors that were given stdin, with the number of bytes given, in
    /// order (they are in [`RecordingRunner::calls`] too).
    pub fn fed(&self) -> Vec<(Vec<String>, usize)> {
        lock(&self.fed).clone()
    }

    /// What `program` answers from now on.
    pub fn answer(&self, program: &str, output: ToolOutput) {
        lock(&self.answers).insert(program.to_owned(), output);
    }

    /// What exactly `argv` answers from now on (one tool read several ways, `ip -j addr`
    /// and `ip -j route`); other argument vectors get the program's answer.
    pub fn answer_argv(&self, argv: &[&str], output: ToolOutput) {
        lock(&self.answers_by_argv).insert(argv.join(" "), output);
    }

    /// `program` is not installed from now on.
    pub fn without(&self, program: &str) {
        lock(&self.missing).insert(program.to_owned());
    }

    /// Every argument vector run so far, in order.
    pub fn calls(&self) -> Vec<Vec<String>> {
        lock(&self.calls).clone()
    }

    /// Forgets the calls so far.
    pub fn clear(&self) {
        lock(&self.calls).clear();
        lock(&self.fed).clear();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panicking test thread must not hide the record from the others.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Runner for RecordingRunner {
    fn run(&self, argv: &[&str]) -> Result<ToolOutput, ProviderError> {
        self.run_with_input(argv, &[])
    }

    fn run_with_input(&self, argv: &[&str], input: &[u8]) -> Result<ToolOutput, ProviderError> {
        let program = argv.first().copied().unwrap_or_default();
        if !self.has(program) {
            return Err(ProviderError::NotFound(format!(
                "{program} is not installed"
            )));
        }
        let recorded: Vec<String> = argv.iter().map(|a| (*a).to_owned()).collect();
        if !input.is_empty() {
            lock(&self.fed).push((recorded.clone(), input.len()));
        }
        lock(&self.calls).push(recorded);
        if let Some(inner) = &self.inner {
            return inner.run_with_input(argv, input);
        }
        if let Some(exact) = lock(&self.answers_by_argv).get(&argv.join(" ")) {
            return Ok(exact.clone());
        }
        Ok(lock(&self.answers)
            .get(program)
            .cloned()
            .unwrap_or_default())
    }

    fn has(&self, program: &str) -> bool {
        !lock(&self.missing).contains(program)
            && self.inner.as_ref().is_none_or(|inner| inner.has(program))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_runner_passes_arguments_verbatim_and_reports_exits() {
        let out = SystemRunner
            .run(&["printf", "%s|", "a b", "$HOME"])
            .unwrap();
        assert_eq!((out.exit_code, out.stdout.as_str()), (0, "a b|$HOME|"));
        let err = SystemRunner
            .check(&["sh", "-c", "echo nope >&2; exit 3"])
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "sh -c echo nope >&2; exit 3 exited 3: nope"
        );
        let missing = SystemRunner.run(&["osapi-no-such-tool"]).unwrap_err();
        assert!(
            missing.to_string().contains("osapi-no-such-tool"),
            "{missing}"
        );
        assert!(SystemRunner.has("sh") && !SystemRunner.has("osapi-no-such-tool"));
        let capped = SystemRunner.run_capped(&["printf", "abcdef"], 3).unwrap();
        assert!(
            capped.stdout.starts_with("abc") && !capped.stdout.contains("def"),
            "{capped:?}"
        );
    }

    #[test]
    fn the_recording_runner_records_and_answers() {
        let r = RecordingRunner::new();
        r.answer(
            "date",
            ToolOutput {
                stdout: "+01:00\n".into(),
                ..Default::default()
            },
        );
        assert_eq!(r.check(&["date", "+%:z"]).unwrap(), "+01:00\n");
        r.without("chronyc");
        assert!(r.run(&["chronyc", "tracking"]).is_err());
        assert_eq!(r.calls(), [vec!["date".to_owned(), "+%:z".to_owned()]]);
        r.check_with_input(&["chpasswd", "-e"], b"u:secret")
            .unwrap();
        assert_eq!(r.fed(), [(vec!["chpasswd".into(), "-e".into()], 8)]);
        assert!(!format!("{r:?}").contains("secret"));
    }

    #[test]
    fn stdin_reaches_the_tool_and_a_passing_recorder_runs_it() {
        let r = RecordingRunner::passing_to(Arc::new(SystemRunner));
        let out = r.check_with_input(&["sh", "-c", "read l; echo \"<$l>\""], b"hi\n");
        assert_eq!(out.unwrap(), "<hi>\n");
        assert_eq!(r.fed().len(), 1);
        assert!(!r.has("osapi-no-such-tool"));
    }

    #[test]
    fn an_exact_argument_vector_has_its_own_answer() {
        let r = RecordingRunner::new();
        r.answer(
            "date",
            ToolOutput {
                stdout: "+01:00\n".into(),
                ..Default::default()
            },
        );
        r.answer_argv(
            &["date", "+%s"],
            ToolOutput {
                stdout: "0\n".into(),
                ..Default::default()
            },
        );
        assert_eq!(r.check(&["date", "+%s"]).unwrap(), "0\n");
        assert_eq!(r.check(&["date", "+%:z"]).unwrap(), "+01:00\n");
    }
}
