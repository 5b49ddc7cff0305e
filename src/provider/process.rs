//! This process, as the kernel sees it: its id and its resource use.

use crate::conditions::ProcessSample;

/// This process's id.
pub fn pid() -> u32 {
    std::process::id()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_this_process() {
        let mut s = ProcessSampler::default();
        let first = s.sample();
        assert!(first.rss_bytes > 0);
    }
}
