//! Processes as the kernel sees them: this process's id and resource use, and the host's
//! processes (listed from /proc with the `procfs` crate, signalled with kill(2)).

use std::collections::HashMap;

use super::ProviderError;
use crate::conditions::ProcessSample;
pub use crate::wire::ops::process::ProcessInfo;

/// This process's id.
pub fn pid() -> u32 {
    std::process::id()
}

/// Raises this process's soft limit on open files to its hard limit (as Go and
/// nats-server do at start: the soft 1,024 most systems default to would cap the API's
/// connections) and returns the limit now in force (`None`: it cannot be read).
pub fn raise_open_files_limit() -> Option<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return Some(hard);
    }
    Some(soft)
}

/// Gives the allocator's free memory back to the kernel. Building the API description
/// at start peaks at about 17 MB of short-lived objects that glibc would otherwise keep
/// resident for the life of the process.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; no pointer of ours
    // is involved.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Samples this process's RSS and CPU use since the previous sample, from /proc.
#[derive(Debug, Default)]
pub struct ProcessSampler {
    last: Option<(std::time::Instant, u64)>,
}

impl ProcessSampler {
    /// Reads `/proc/self/stat` (unreadable: zeros). Blocking, though cheap.
    pub fn sample(&mut self) -> ProcessSample {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // Fields after the command name (which may hold spaces) start after ')'.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or(vec![], |(_, r)| r.split_whitespace().collect());
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        // utime and stime are fields 14 and 15 (1-based), i.e. 11 and 12 after ')'.
        let cpu_ticks = ticks(11) + ticks(12);
        let rss_pages = ticks(21);
        let page = 4096;
        let hz = 100.0;
        let now = std::time::Instant::now();
        let cpu_percent = match self.last {
            Some((at, before)) => {
                let secs = now.duration_since(at).as_secs_f64();
                if secs > 0.0 {
                    (cpu_ticks.saturating_sub(before)) as f64 / hz / secs * 100.0
                } else {
                    0.0
                }
            }
            None => 0.0,
        };
        self.last = Some((now, cpu_ticks));
        ProcessSample {
            rss_bytes: rss_pages * page,
            cpu_percent,
        }
    }
}

/// The host's processes.
pub trait ProcessProvider: Send + Sync {
    /// Every process whose attributes could be read (one that exits meanwhile is left out),
    /// by pid.
    fn list(&self) -> Result<Vec<ProcessInfo>, ProviderError>;
    /// One process; `NotFound` when there is none.
    fn get(&self, pid: i32) -> Result<ProcessInfo, ProviderError>;
    /// Sends `signal` (`TERM`, `KILL`, `HUP`, `INT`, `USR1`, `USR2`) to `pid`.
    fn signal(&self, pid: i32, signal: &str) -> Result<(), ProviderError>;
}

/// The processes of the host this runs on.
pub struct LinuxProcesses;

/// What every process's figures are computed against.
struct Clock {
    boot_secs: u64,
    ticks: u64,
    page: u64,
    mem_total: u64,
    now_secs: f64,
}

impl Clock {
    fn read() -> Result<Self, ProviderError> {
        use procfs::Current;
        let proc_error = |e: procfs::ProcError| ProviderError::Failed(format!("/proc: {e}"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Ok(Self {
            boot_secs: procfs::boot_time_secs().map_err(proc_error)?,
            ticks: procfs::ticks_per_second().max(1),
            page: procfs::page_size(),
            mem_total: procfs::Meminfo::current().map_err(proc_error)?.mem_total,
            now_secs: now.as_secs_f64(),
        })
    }
}

/// User names by uid, looked up once per listing.
type Users = HashMap<u32, String>;

fn user_name(users: &mut Users, uid: u32) -> String {
    users
        .entry(uid)
        .or_insert_with(|| {
            nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                .ok()
                .flatten()
                .map_or_else(|| uid.to_string(), |u| u.name)
        })
        .clone()
}

/// gopsutil's names for the state letters of /proc/<pid>/stat, as the original reports.
fn state_name(letter: char) -> &'static str {
    match letter {
        'R' => "running",
        'S' => "sleep",
        'D' | 'U' => "blocked",
        'I' => "idle",
        'T' | 't' => "stop",
        'Z' => "zombie",
        'W' => "wait",
        'L' => "lock",
        _ => "",
    }
}

fn info(
    p: &procfs::process::Process,
    clock: &Clock,
    users: &mut Users,
) -> procfs::ProcResult<ProcessInfo> {
    let stat = p.stat()?;
    let uid = p.uid()?;
    let command = clipped(p.cmdline().unwrap_or_default().join(" "));
    let started = clock.boot_secs as f64 + stat.starttime as f64 / clock.ticks as f64;
    let cpu_secs = (stat.utime + stat.stime) as f64 / clock.ticks as f64;
    let alive = clock.now_secs - started;
    let rss = stat.rss * clock.page;
    Ok(ProcessInfo {
        pid: stat.pid,
        name: stat.comm,
        user: user_name(users, uid),
        state: state_name(stat.state).to_owned(),
        cpu_percent: if alive > 0.0 {
            cpu_secs / alive * 100.0
        } else {
            0.0
        },
        mem_percent: if clock.mem_total > 0 {
            rss as f64 / clock.mem_total as f64 * 100.0
        } else {
            0.0
        },
        mem_rss: rss,
        command,
        start_time: start_time(started),
    })
}

/// Bytes of a command line kept in a listing: a whole process table must fit one NATS
/// message, and some command lines carry kilobytes of environment.
const MAX_COMMAND: usize = 4096;

/// `command` cut to [`MAX_COMMAND`] bytes, at a character boundary.
fn clipped(mut command: String) -> String {
    if command.len() > MAX_COMMAND {
        let mut end = MAX_COMMAND;
        while !command.is_char_boundary(end) {
            end -= 1;
        }
        command.truncate(end);
    }
    command
}

/// Seconds since the epoch as RFC 3339 UTC, to the second (as the original).
fn start_time(secs: f64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs as i64)
        .map(crate::wire::job::rfc3339)
        .unwrap_or_default()
}

fn signal_of(name: &str) -> Result<nix::sys::signal::Signal, ProviderError> {
    use nix::sys::signal::Signal::*;
    Ok(match name {
        "TERM" => SIGTERM,
        "KILL" => SIGKILL,
        "HUP" => SIGHUP,
        "INT" => SIGINT,
        "USR1" => SIGUSR1,
        "USR2" => SIGUSR2,
        other => {
            return Err(ProviderError::InvalidInput(format!(
                "unknown signal {other:?}"
            )))
        }
    })
}

fn not_found(pid: i32) -> ProviderError {
    ProviderError::NotFound(format!("process {pid}"))
}

impl ProcessProvider for LinuxProcesses {
    fn list(&self) -> Result<Vec<ProcessInfo>, ProviderError> {
        let clock = Clock::read()?;
        let mut users = Users::new();
        let all = procfs::process::all_processes()
            .map_err(|e| ProviderError::Failed(format!("/proc: {e}")))?;
        let mut list: Vec<ProcessInfo> = all
            .filter_map(|p| info(&p.ok()?, &clock, &mut users).ok())
            .collect();
        list.sort_by_key(|p| p.pid);
        Ok(list)
    }

    fn get(&self, pid: i32) -> Result<ProcessInfo, ProviderError> {
        let clock = Clock::read()?;
        let p = procfs::process::Process::new(pid).map_err(|_| not_found(pid))?;
        info(&p, &clock, &mut Users::new()).map_err(|_| not_found(pid))
    }

    fn signal(&self, pid: i32, signal: &str) -> Result<(), ProviderError> {
        let sig = signal_of(signal)?;
        match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig) {
            Ok(()) => Ok(()),
            Err(nix::errno::Errno::ESRCH) => Err(not_found(pid)),
            Err(nix::errno::Errno::EPERM) => Err(ProviderError::PermissionDenied(format!(
                "signalling process {pid}"
            ))),
            Err(e) => Err(ProviderError::Failed(format!(
                "signalling process {pid}: {e}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_gets_this_process_from_proc() {
        let me = std::process::id() as i32;
        let list = LinuxProcesses.list().unwrap();
        let mine = list
            .iter()
            .find(|p| p.pid == me)
            .expect("this process listed");
        assert!(mine.mem_rss > 0 && mine.mem_percent > 0.0, "{mine:?}");
        assert!(mine.command.contains("osapi"), "{mine:?}");
        assert!(!mine.state.is_empty(), "{mine:?}");
        let got = LinuxProcesses.get(me).unwrap();
        assert_eq!(
            (got.pid, &got.name, &got.user),
            (me, &mine.name, &mine.user)
        );
        assert!(got.start_time.ends_with('Z'), "{got:?}");
        assert!(matches!(
            LinuxProcesses.get(i32::MAX),
            Err(ProviderError::NotFound(_))
        ));
    }

    #[test]
    fn signals_a_child_and_reports_a_missing_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        LinuxProcesses.signal(child.id() as i32, "TERM").unwrap();
        let status = child.wait().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(15));
        assert!(matches!(
            LinuxProcesses.signal(child.id() as i32, "TERM"),
            Err(ProviderError::NotFound(_))
        ));
        assert!(LinuxProcesses.signal(child.id() as i32, "STOP").is_err());
        assert_eq!(state_name('S'), "sleep");
        assert_eq!(clipped("é".repeat(3000)).len(), 4096);
        assert_eq!(clipped("ls -l".into()), "ls -l");
    }

    #[test]
    fn samples_this_process() {
        let mut s = ProcessSampler::default();
        let first = s.sample();
        assert!(first.rss_bytes > 0);
    }
}
