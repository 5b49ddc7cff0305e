//! Node facts read from the running Linux kernel: hostname, uptime, OS, load, memory,
//! and mounted local filesystems.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ProviderError;

// The wire shapes are the provider's own answers: no copies field by field, and memory
// `used` is computed once, here.
pub use crate::wire::ops::node::{Disk, LoadAverage, Memory, OsInfo};

/// The system time zone: IANA name and current offset (`+05:30`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timezone {
    pub name: String,
    pub utc_offset: String,
}

/// Reads node information.
pub trait NodeProvider: Send + Sync {
    /// The kernel hostname.
    fn hostname(&self) -> Result<String, ProviderError>;
    /// Time since boot.
    fn uptime(&self) -> Result<Duration, ProviderError>;
    fn os_info(&self) -> Result<OsInfo, ProviderError>;
    fn load(&self) -> Result<LoadAverage, ProviderError>;
    fn memory(&self) -> Result<Memory, ProviderError>;
    /// Local, disk-backed filesystems (pseudo and network filesystems left out).
    fn disks(&self) -> Result<Vec<Disk>, ProviderError>;
    /// The system time zone and its UTC offset now.
    fn timezone(&self) -> Result<Timezone, ProviderError>;
}

/// Reads from `/proc`, `/etc/os-release` and `statvfs`: cheap reads of kernel state, no
/// helper processes.
pub struct LinuxNode;

fn read(path: &str) -> Result<String, ProviderError> {
    std::fs::read_to_string(path).map_err(|e| ProviderError::from_io(path, e))
}

impl NodeProvider for LinuxNode {
    fn hostname(&self) -> Result<String, ProviderError> {
        os_hostname()
    }

    fn timezone(&self) -> Result<Timezone, ProviderError> {
        read_timezone(Path::new("/"), jiff::Timestamp::now())
    }

    fn uptime(&self) -> Result<Duration, ProviderError> {
        parse_uptime(&read("/proc/uptime")?)
    }

    fn os_info(&self) -> Result<OsInfo, ProviderError> {
        // os-release(5): /etc/os-release wins, /usr/lib/os-release is the fallback.
        let text = read("/etc/os-release").or_else(|_| read("/usr/lib/os-release"))?;
        Ok(parse_os_release(&text))
    }

    fn load(&self) -> Result<LoadAverage, ProviderError> {
        parse_loadavg(&read("/proc/loadavg")?)
    }

    fn memory(&self) -> Result<Memory, ProviderError> {
        parse_meminfo(&read("/proc/meminfo")?)
    }

    fn disks(&self) -> Result<Vec<Disk>, ProviderError> {
        let mut disks = Vec::new();
        for m in parse_mounts(&read("/proc/self/mounts")?) {
            // Containers bind-mount single files (/etc/hosts, ...) from the host's disk;
            // those are not filesystems of their own.
            if !std::path::Path::new(&m.mount_point).is_dir() {
                continue;
            }
            match statvfs_usage(&m.mount_point) {
                Ok((total, used, free)) => disks.push(Disk {
                    name: m.mount_point,
                    device: m.device,
                    fstype: m.fstype,
                    total,
                    used,
                    free,
                }),
                // One unreadable mount (no permission, unmounted since /proc was read,
                // a stale handle) must not hide all the others.
                Err(e) => tracing::debug!(mount = %m.mount_point, error = %e, "skipping mount"),
            }
        }
        Ok(disks)
    }
}

/// (total, used, free) bytes as `df` computes them: `free` is what unprivileged users may
/// still use, `used` excludes the root-reserved blocks.
fn statvfs_usage(path: &str) -> Result<(u64, u64, u64), nix::errno::Errno> {
    let st = nix::sys::statvfs::statvfs(path)?;
    #[allow(clippy::useless_conversion)] // the field types differ between targets
    let (frsize, blocks, bfree, bavail) = (
        u64::from(st.fragment_size()),
        u64::from(st.blocks()),
        u64::from(st.blocks_free()),
        u64::from(st.blocks_available()),
    );
    Ok((
        blocks.saturating_mul(frsize),
        blocks.saturating_sub(bfree).saturating_mul(frsize),
        bavail.saturating_mul(frsize),
    ))
}

/// The kernel hostname (`uname -n`).
/// The zone configured under the system root `root`, read as glibc does: the name from
/// `/etc/timezone` (Debian) or the `/etc/localtime` link into `zoneinfo/`, the rules from
/// `/etc/localtime` (or the named zone's file). No `/etc/localtime` means UTC.
pub fn read_timezone(root: &Path, now: jiff::Timestamp) -> Result<Timezone, ProviderError> {
    let localtime = root.join("etc/localtime");
    let linked = std::fs::read_link(&localtime).ok().and_then(|target| {
        let target = target.to_string_lossy().into_owned();
        target
            .split_once("zoneinfo/")
            .map(|(_, name)| name.to_owned())
    });
    let named = std::fs::read_to_string(root.join("etc/timezone"))
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty());
    let Some(name) = named.or(linked) else {
        if !localtime.exists() {
            return Ok(Timezone {
                name: "UTC".into(),
                utc_offset: "+00:00".into(),
            });
        }
        return Err(ProviderError::Failed(
            "/etc/localtime names no zone (no /etc/timezone, not a zoneinfo link)".into(),
        ));
    };
    let rules = std::fs::read(&localtime)
        .or_else(|_| std::fs::read(root.join("usr/share/zoneinfo").join(&name)))
        .map_err(|e| ProviderError::from_io(&localtime.display().to_string(), e))?;
    let zone = jiff::tz::TimeZone::tzif(&name, &rules)
        .map_err(|e| ProviderError::Failed(format!("time zone {name}: {e}")))?;
    Ok(Timezone {
        utc_offset: offset_text(zone.to_offset(now).seconds()),
        name,
    })
}

/// `+05:30` from seconds east of UTC.
fn offset_text(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

pub fn os_hostname() -> Result<String, ProviderError> {
    nix::unistd::gethostname()
        .map_err(|e| ProviderError::Failed(format!("cannot read hostname: {e}")))?
        .into_string()
        .map_err(|_| ProviderError::Failed("hostname is not valid UTF-8".into()))
}

fn bad(what: &str) -> ProviderError {
    ProviderError::Failed(format!("cannot parse {what}"))
}

/// The first field of `/proc/uptime`: seconds since boot.
fn parse_uptime(text: &str) -> Result<Duration, ProviderError> {
    text.split_whitespace()
        .next()
        .and_then(|v| v.parse::<f64>().ok())
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| bad("/proc/uptime"))
}

/// The first three fields of `/proc/loadavg`.
fn parse_loadavg(text: &str) -> Result<LoadAverage, ProviderError> {
    let mut fields = text.split_whitespace().map(str::parse::<f64>);
    match (fields.next(), fields.next(), fields.next()) {
        (Some(Ok(one)), Some(Ok(five)), Some(Ok(fifteen))) => {
            Ok(LoadAverage { one, five, fifteen })
        }
        _ => Err(bad("/proc/loadavg")),
    }
}

/// `MemTotal`, `MemAvailable`, `MemFree` and `Cached` of `/proc/meminfo`, in bytes.
fn parse_meminfo(text: &str) -> Result<Memory, ProviderError> {
    let kib = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map(|v| v.saturating_mul(1024))
    };
    let total = kib("MemTotal").ok_or_else(|| bad("MemTotal in /proc/meminfo"))?;
    let free = kib("MemFree").ok_or_else(|| bad("MemFree in /proc/meminfo"))?;
    // Kernels before 3.14 lack MemAvailable; free memory is the conservative answer.
    let available = kib("MemAvailable").unwrap_or(free);
    Ok(Memory {
        total,
        free,
        used: total.saturating_sub(available),
        available,
        cached: kib("Cached").unwrap_or(0),
    })
}

/// `ID` (`NAME` when there is no `ID`) and `VERSION_ID` of an os-release file.
fn parse_os_release(text: &str) -> OsInfo {
    let get = |key: &str| {
        text.lines()
            .filter_map(|l| l.trim().strip_prefix(key)?.strip_prefix('='))
            .map(unquote)
            .find(|v| !v.is_empty())
    };
    OsInfo {
        distribution: get("ID").or_else(|| get("NAME")).unwrap_or_default(),
        version: get("VERSION_ID").unwrap_or_default(),
    }
}

/// An os-release value: shell-style, optionally quoted, with `\\`, `\"`, `\$` and `` \` ``
/// escapes.
fn unquote(v: &str) -> String {
    let v = v.trim();
    let inner = match v.as_bytes() {
        [q @ (b'"' | b'\''), .., last] if last == q => &v[1..v.len() - 1],
        _ => v,
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some(n @ ('\\' | '"' | '$' | '`'))) => {
                out.push(n);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// Filesystems that hold data on a local block device.
const LOCAL_FS: &[&str] = &[
    "ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "f2fs", "bcachefs", "vfat", "exfat", "ntfs3",
    "jfs", "reiserfs",
];

/// One line of `/proc/self/mounts`.
#[derive(Debug, Clone, PartialEq)]
struct Mount {
    device: String,
    mount_point: String,
    fstype: String,
}

/// Local filesystems from `/proc/self/mounts` text, each mount point once.
///
/// Pseudo (proc, tmpfs, cgroup, ...) and network filesystems are left out: they hold no
/// local data, and `statvfs` on a dead NFS server would hang. `overlay` counts only when
/// it is the root filesystem (an agent in a container reports its writable layer); on a
/// container host each container's overlay would merely repeat the backing disk.
fn parse_mounts(text: &str) -> Vec<Mount> {
    let mut mounts: Vec<Mount> = Vec::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(dev), Some(mount_point), Some(fstype)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let mount_point = unescape_mount(mount_point);
        if !(LOCAL_FS.contains(&fstype) || (fstype == "overlay" && mount_point == "/")) {
            continue;
        }
        // A later mount on the same point hides the earlier one: keep the visible one.
        mounts.retain(|m| m.mount_point != mount_point);
        mounts.push(Mount {
            device: unescape_mount(dev),
            mount_point,
            fstype: fstype.to_owned(),
        });
    }
    mounts
}

/// The kernel writes space, tab, newline and backslash in mount fields as `\ooo` octal.
fn unescape_mount(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| b[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .map(|d| d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0')));
        match octal.and_then(|v| u8::try_from(v).ok()) {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    /// A TZif v2 file with one local time type and a POSIX footer, as zic writes for a
    /// zone without transitions.
    fn tzif(offset: i32, abbr: &str, posix: &str) -> Vec<u8> {
        let block = |out: &mut Vec<u8>, version: u8| {
            out.extend(b"TZif");
            out.push(version);
            out.extend([0u8; 15]);
            // isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
            for n in [0u32, 0, 0, 0, 1, abbr.len() as u32 + 1] {
                out.extend(n.to_be_bytes());
            }
            out.extend(offset.to_be_bytes());
            out.extend([0u8, 0u8]);
            out.extend(abbr.as_bytes());
            out.push(0);
        };
        let mut out = Vec::new();
        block(&mut out, b'2');
        block(&mut out, b'2');
        out.extend(format!("\n{posix}\n").as_bytes());
        out
    }

    #[test]
    fn timezone_from_the_localtime_link_or_etc_timezone() {
        let now = jiff::Timestamp::from_second(1_800_000_000).unwrap();
        let root = tempfile::tempdir().unwrap();
        let zones = root.path().join("usr/share/zoneinfo/Asia");
        std::fs::create_dir_all(&zones).unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        // Nothing configured: UTC, as glibc assumes.
        let utc = read_timezone(root.path(), now).unwrap();
        assert_eq!(
            (utc.name.as_str(), utc.utc_offset.as_str()),
            ("UTC", "+00:00")
        );

        std::fs::write(zones.join("Kolkata"), tzif(19800, "IST", "IST-5:30")).unwrap();
        std::os::unix::fs::symlink(
            "../usr/share/zoneinfo/Asia/Kolkata",
            root.path().join("etc/localtime"),
        )
        .unwrap();
        let tz = read_timezone(root.path(), now).unwrap();
        assert_eq!(tz.name, "Asia/Kolkata");
        assert_eq!(tz.utc_offset, "+05:30");

        std::fs::write(root.path().join("etc/timezone"), "Asia/Calcutta\n").unwrap();
        assert_eq!(
            read_timezone(root.path(), now).unwrap().name,
            "Asia/Calcutta"
        );
    }

    #[test]
    fn negative_offsets_read_like_date() {
        assert_eq!(super::offset_text(-3 * 3600 - 1800), "-03:30");
        assert_eq!(super::offset_text(0), "+00:00");
    }

    use super::*;

    fn proc_meminfo_kib(key: &str) -> u64 {
        let text = std::fs::read_to_string("/proc/meminfo").unwrap();
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("{key}:")))
            .unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn near(a: u64, b: u64, tolerance: u64) -> bool {
        a.abs_diff(b) <= tolerance
    }

    #[test]
    fn linux_hostname_matches_proc() {
        let proc = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(LinuxNode.hostname().unwrap(), proc.trim());
        assert_eq!(os_hostname().unwrap(), proc.trim());
    }

    #[test]
    fn parses_uptime_and_loadavg() {
        assert_eq!(
            parse_uptime("93784.52 1000.1\n").unwrap(),
            Duration::from_millis(93_784_520)
        );
        assert!(parse_uptime("").is_err());
        assert!(parse_uptime("-1 0").is_err());
        let l = parse_loadavg("0.50 0.25 0.10 1/234 5678\n").unwrap();
        assert_eq!((l.one, l.five, l.fifteen), (0.5, 0.25, 0.1));
        assert!(parse_loadavg("x").is_err());
        assert!(parse_loadavg("0.1 0.2").is_err());
    }

    #[test]
    fn parses_meminfo() {
        let m = parse_meminfo(
            "MemTotal:       1000 kB\nMemFree:  200 kB\nMemAvailable: 600 kB\n\
             Buffers: 5 kB\nCached: 100 kB\nSwapCached: 7 kB\n",
        )
        .unwrap();
        assert_eq!(
            m,
            Memory {
                total: 1_024_000,
                available: 614_400,
                used: 409_600,
                free: 204_800,
                cached: 102_400
            }
        );
        // Old kernels: no MemAvailable.
        let old = parse_meminfo("MemTotal: 1000 kB\nMemFree: 200 kB\n").unwrap();
        assert_eq!((old.available, old.cached), (204_800, 0));
        assert!(parse_meminfo("nothing").is_err());
    }

    #[test]
    fn parses_os_release() {
        let os =
            parse_os_release("NAME=\"Ubuntu\"\nID_LIKE=debian\nVERSION_ID=\"24.04\"\nID=ubuntu\n");
        assert_eq!(
            os,
            OsInfo {
                distribution: "ubuntu".into(),
                version: "24.04".into()
            }
        );
        let os = parse_os_release("# comment\nNAME='Some \\\"OS\\\"'\nVERSION_ID=\n");
        assert_eq!(os.distribution, "Some \"OS\"");
        assert_eq!(os.version, "");
        assert_eq!(unquote(r#""a \$b \\ \`c\`""#), "a $b \\ `c`");
    }

    #[test]
    fn keeps_only_local_mounts_once() {
        let m = parse_mounts(
            "/dev/vda / ext4 rw 0 0\nproc /proc proc rw 0 0\ntmpfs /run tmpfs rw 0 0\n\
             /dev/vdb /data\\040x xfs rw 0 0\nsrv:/x /nfs nfs4 rw 0 0\n\
             overlay /var/lib/docker/overlay2/abc/merged overlay rw 0 0\n\
             /dev/vdc / ext4 rw 0 0\nbad line\n",
        );
        let points: Vec<(&str, &str)> = m
            .iter()
            .map(|m| (m.device.as_str(), m.mount_point.as_str()))
            .collect();
        // The later mount on / hides the first one.
        assert_eq!(points, [("/dev/vdb", "/data x"), ("/dev/vdc", "/")]);
        let c = parse_mounts("overlay / overlay rw 0 0\n/dev/sda1 /etc/hosts ext4 rw 0 0\n");
        assert_eq!(c[0].fstype, "overlay");
        assert_eq!(c.len(), 2);
        assert_eq!(unescape_mount(r"a\011b\134c\12"), "a\tb\\c\\12");
    }

    #[test]
    fn memory_matches_proc_meminfo() {
        let m = LinuxNode.memory().unwrap();
        assert_eq!(m.total, proc_meminfo_kib("MemTotal") * 1024);
        // The rest moves while the test runs: allow 5 % of memory.
        let tol = m.total / 20;
        assert!(
            near(m.free, proc_meminfo_kib("MemFree") * 1024, tol),
            "{m:?}"
        );
        assert!(
            near(m.available, proc_meminfo_kib("MemAvailable") * 1024, tol),
            "{m:?}"
        );
        assert!(
            near(m.cached, proc_meminfo_kib("Cached") * 1024, tol),
            "{m:?}"
        );
        assert!(m.free <= m.total && m.available <= m.total);
    }

    #[test]
    fn load_and_uptime_match_proc() {
        let text = std::fs::read_to_string("/proc/loadavg").unwrap();
        let want: Vec<f64> = text
            .split_whitespace()
            .take(3)
            .map(|v| v.parse().unwrap())
            .collect();
        let l = LinuxNode.load().unwrap();
        for (got, want) in [l.one, l.five, l.fifteen].into_iter().zip(want) {
            assert!((got - want).abs() < 1.0, "{l:?} vs {text}");
        }
        let text = std::fs::read_to_string("/proc/uptime").unwrap();
        let want: f64 = text.split_whitespace().next().unwrap().parse().unwrap();
        let got = LinuxNode.uptime().unwrap().as_secs_f64();
        assert!(got >= want && got - want < 5.0, "{got} vs {want}");
    }

    #[test]
    fn os_info_is_read() {
        let os = LinuxNode.os_info().unwrap();
        assert!(!os.distribution.is_empty(), "{os:?}");
    }

    #[test]
    fn disks_match_statvfs() {
        let disks = LinuxNode.disks().unwrap();
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
        // A machine (or container) always has its root filesystem somewhere local.
        assert!(
            disks.iter().any(|d| d.name == "/") || !mounts.contains(" / "),
            "{disks:?}"
        );
        for d in &disks {
            assert!(LOCAL_FS.contains(&d.fstype.as_str()) || d.fstype == "overlay");
            let st = nix::sys::statvfs::statvfs(d.name.as_str()).unwrap();
            let frsize = st.fragment_size() as u64;
            assert_eq!(d.total, st.blocks() as u64 * frsize, "{d:?}");
            // Other processes write meanwhile: allow 1 % of the filesystem.
            let tol = d.total / 100;
            assert!(
                near(d.free, st.blocks_available() as u64 * frsize, tol),
                "{d:?}"
            );
            let used = (st.blocks() as u64 - st.blocks_free() as u64) * frsize;
            assert!(near(d.used, used, tol), "{d:?}");
            assert!(d.used + d.free <= d.total, "{d:?}");
        }
    }
}
