//! Conditions evaluated on every heartbeat: MemoryPressure, HighLoad and DiskPressure for
//! agents; ProcessMemoryPressure and ProcessHighCPU for every component.

use serde::{Deserialize, Serialize};

use crate::config::{ConditionsConfig, ProcessConditionsConfig};

/// One evaluated condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Condition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    pub last_transition_time: String,
}

/// What the host conditions look at (absent inputs evaluate to false).
#[derive(Debug, Clone, Default)]
pub struct HostSample {
    /// (total, available) bytes.
    pub memory: Option<(u64, u64)>,
    pub load1: Option<f64>,
    pub cpu_count: usize,
    /// (mount point, total, used) bytes.
    pub disks: Vec<(String, u64, u64)>,
}

/// This process: resident memory and CPU percent (100 = one core).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct ProcessSample {
    pub rss_bytes: u64,
    pub cpu_percent: f64,
}

const GB: f64 = 1024.0 * 1024.0 * 1024.0;

fn pct(part: u64, total: u64) -> f64 {
    part as f64 / total as f64 * 100.0
}

/// (type, active, reason) for the host conditions.
pub fn host_conditions(
    cfg: &ConditionsConfig,
    s: &HostSample,
) -> Vec<(&'static str, bool, String)> {
    let memory = match s.memory {
        Some((total, avail)) if total > 0 => {
            let used = total.saturating_sub(avail);
            let p = pct(used, total);
            let on = p > cfg.memory_pressure_threshold;
            let reason = format!(
                "memory {p:.0}% used ({:.1}/{:.1} GB)",
                used as f64 / GB,
                total as f64 / GB
            );
            (on, if on { reason } else { String::new() })
        }
        _ => (false, String::new()),
    };
    let load = match s.load1 {
        Some(l) if s.cpu_count > 0 => {
            let limit = s.cpu_count as f64 * cfg.high_load_multiplier;
            let on = l > limit;
            let reason = format!("load {l:.2}, threshold {limit:.2} for {} CPUs", s.cpu_count);
            (on, if on { reason } else { String::new() })
        }
        _ => (false, String::new()),
    };
    let disk = s
        .disks
        .iter()
        .filter(|(_, total, _)| *total > 0)
        .find(|(_, total, used)| pct(*used, *total) > cfg.disk_pressure_threshold)
        .map(|(mount, total, used)| {
            let reason = format!(
                "{mount} {:.0}% used ({:.1}/{:.1} GB)",
                pct(*used, *total),
                *used as f64 / GB,
                *total as f64 / GB
            );
            (true, reason)
        })
        .unwrap_or((false, String::new()));
    vec![
        ("MemoryPressure", memory.0, memory.1),
        ("HighLoad", load.0, load.1),
        ("DiskPressure", disk.0, disk.1),
    ]
}

/// (type, active, reason) for the process conditions; a zero threshold leaves one out.
pub fn process_conditions(
    cfg: &ProcessConditionsConfig,
    p: &ProcessSample,
) -> Vec<(&'static str, bool, String)> {
    let rss = (p.rss_bytes, cfg.memory_pressure_bytes);
    let cpu = (p.cpu_percent, cfg.high_cpu_percent);
    [
        above("ProcessMemoryPressure", rss, |(v, l)| {
            format!("process RSS {v} bytes exceeds threshold {l} bytes")
        }),
        above("ProcessHighCPU", cpu, |(v, l)| {
            format!("process CPU {v:.1}% exceeds threshold {l:.1}%")
        }),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// A condition that holds while `value` exceeds `limit`; none at all for a zero limit,
/// which is how a threshold is switched off.
fn above<T: PartialOrd + Default + Copy>(
    name: &'static str,
    (value, limit): (T, T),
    reason: impl FnOnce((T, T)) -> String,
) -> Option<(&'static str, bool, String)> {
    (limit > T::default()).then(|| raw(name, value > limit, reason((value, limit))))
}

/// A raw condition: its reason only when it holds.
fn raw(name: &'static str, on: bool, reason: String) -> (&'static str, bool, String) {
    (name, on, if on { reason } else { String::new() })
}

/// Keeps transition times across evaluations.
#[derive(Debug, Default)]
pub struct Tracker {
    last: Vec<Condition>,
}

impl Tracker {
    /// Turns raw evaluations into conditions, carrying `last_transition_time` over while
    /// a condition's status does not change.
    pub fn update(&mut self, raw: Vec<(&'static str, bool, String)>, now: &str) -> Vec<Condition> {
        let next: Vec<Condition> = raw
            .into_iter()
            .map(|(kind, status, reason)| {
                let since = self
                    .last
                    .iter()
                    .find(|c| c.kind == kind && c.status == status)
                    .map_or_else(|| now.to_owned(), |c| c.last_transition_time.clone());
                Condition {
                    kind: kind.to_owned(),
                    status,
                    reason,
                    last_transition_time: since,
                }
            })
            .collect();
        self.last = next.clone();
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> ConditionsConfig {
        ConditionsConfig {
            memory_pressure_threshold: 90.0,
            high_load_multiplier: 2.0,
            disk_pressure_threshold: 50.0,
        }
    }

    #[test]
    fn host_conditions_fire_above_thresholds_only() {
        let s = HostSample {
            memory: Some((100, 5)),
            load1: Some(4.5),
            cpu_count: 2,
            disks: vec![("/".into(), 100, 40), ("/data".into(), 100, 60)],
        };
        let c = host_conditions(&cfg(), &s);
        assert_eq!(c[0].0, "MemoryPressure");
        assert!(c[0].1 && c[0].2.contains("95%"));
        assert!(c[1].1, "load 4.5 > 2 x 2");
        assert!(c[2].1 && c[2].2.starts_with("/data 60%"), "{:?}", c[2]);
        let calm = HostSample {
            memory: Some((100, 50)),
            load1: Some(1.0),
            cpu_count: 2,
            disks: vec![("/".into(), 100, 10)],
        };
        assert!(host_conditions(&cfg(), &calm).iter().all(|c| !c.1));
    }

    #[test]
    fn missing_inputs_are_false() {
        assert!(host_conditions(&cfg(), &HostSample::default())
            .iter()
            .all(|c| !c.1));
    }

    #[test]
    fn process_conditions_only_with_thresholds() {
        let p = ProcessSample {
            rss_bytes: 2000,
            cpu_percent: 50.0,
        };
        assert!(process_conditions(&ProcessConditionsConfig::default(), &p).is_empty());
        let cfg = ProcessConditionsConfig {
            memory_pressure_bytes: 1000,
            high_cpu_percent: 80.0,
        };
        let c = process_conditions(&cfg, &p);
        assert_eq!((c[0].0, c[0].1), ("ProcessMemoryPressure", true));
        assert_eq!((c[1].0, c[1].1), ("ProcessHighCPU", false));
    }

    #[test]
    fn transition_time_kept_while_status_holds() {
        let mut t = Tracker::default();
        let a = t.update(vec![("X", true, "r".into())], "t1");
        let b = t.update(vec![("X", true, "r".into())], "t2");
        let c = t.update(vec![("X", false, String::new())], "t3");
        assert_eq!(a[0].last_transition_time, "t1");
        assert_eq!(b[0].last_transition_time, "t1");
        assert_eq!(c[0].last_transition_time, "t3");
    }
}
