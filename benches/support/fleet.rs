//! A simulated fleet: many agents in this process, each with its own NATS connection,
//! consumers and heartbeat, answering from canned providers (no OS access), so that a
//! thousand of them fit on one small machine. Shared by the benches and the tests
//! (`#[path = "../benches/support/fleet.rs"]`).
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use osapi::config::Config;
use osapi::provider::node::{self, NodeProvider};
use osapi::provider::{facts::FactsProvider, ProviderError, Providers};
use osapi::wire::facts::Facts;
use tokio_util::sync::CancellationToken;

/// A host that exists only in memory: its name, and fixed readings for the heartbeat.
pub struct SimNode {
    pub name: String,
}

impl NodeProvider for SimNode {
    fn hostname(&self) -> Result<String, ProviderError> {
        Ok(self.name.clone())
    }

    fn uptime(&self) -> Result<Duration, ProviderError> {
        Ok(Duration::from_secs(86_400))
    }

    fn os_info(&self) -> Result<node::OsInfo, ProviderError> {
        Ok(node::OsInfo {
            distribution: "Simulated".into(),
            version: "1".into(),
        })
    }

    fn load(&self) -> Result<node::LoadAverage, ProviderError> {
        Ok(node::LoadAverage {
            one: 0.1,
            five: 0.1,
            fifteen: 0.1,
        })
    }

    fn memory(&self) -> Result<node::Memory, ProviderError> {
        let gib = 1 << 30;
        Ok(node::Memory {
            total: 8 * gib,
            free: 6 * gib,
            used: 2 * gib,
            available: 6 * gib,
            cached: 0,
        })
    }

    fn disks(&self) -> Result<Vec<node::Disk>, ProviderError> {
        Ok(Vec::new())
    }

    fn timezone(&self) -> Result<node::Timezone, ProviderError> {
        Ok(node::Timezone {
            name: "UTC".into(),
            utc_offset: "+00:00".into(),
        })
    }
}

/// Facts made up from the agent's name (the real provider reads `/proc` and walks `PATH`).
pub struct SimFacts;

impl FactsProvider for SimFacts {
    fn collect(&self, hostname: &str, _node: &dyn NodeProvider) -> Facts {
        Facts {
            hostname: hostname.to_owned(),
            architecture: "x86_64".into(),
            kernel_version: "6.1.0-sim".into(),
            fqdn: format!("{hostname}.sim"),
            ..Default::default()
        }
    }
}

/// The providers of simulated host `name`: everything but node and facts is shared with
/// `base` (only hostname and heartbeat reads are expected of a simulated host).
pub fn sim_providers(base: &Providers, name: &str) -> Providers {
    let mut p = base.clone();
    p.node = Arc::new(SimNode { name: name.into() });
    p.facts = Arc::new(SimFacts);
    p
}

/// Agents `<prefix>-0000` … running in this process until dropped.
pub struct Fleet {
    pub names: Vec<String>,
    cancel: CancellationToken,
}

impl Fleet {
    /// Starts `n` agents with `config` (its `agent.hostname` replaced), `stagger` apart so
    /// that a thousand do not all connect in the same millisecond.
    pub fn start(config: &Config, n: usize, prefix: &str, stagger: Duration) -> Self {
        let cancel = CancellationToken::new();
        let base = Providers::with_node(Arc::new(SimNode {
            name: prefix.into(),
        }));
        let names: Vec<String> = (0..n).map(|i| format!("{prefix}-{i:04}")).collect();
        for (i, name) in names.iter().enumerate() {
            let mut cfg = config.clone();
            cfg.agent.hostname = name.clone();
            let providers = sim_providers(&base, name);
            let token = cancel.clone();
            let delay = stagger * i as u32;
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Err(e) = osapi::agent::run(&cfg, providers, token).await {
                    eprintln!("simulated agent {} failed: {e}", cfg.agent.hostname);
                }
            });
        }
        Self { names, cancel }
    }

    /// Waits until `registered()` (a count of registry entries) reaches the fleet's size;
    /// how long that took.
    pub async fn wait_registered<F, Fut>(&self, mut registered: F, limit: Duration) -> Duration
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = usize>,
    {
        let t = Instant::now();
        loop {
            let n = registered().await;
            if n >= self.names.len() {
                return t.elapsed();
            }
            assert!(
                t.elapsed() < limit,
                "only {n} of {} simulated agents registered within {limit:?}",
                self.names.len()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// This process's resident memory (bytes) and CPU time used so far.
pub fn self_usage() -> (u64, Duration) {
    proc_usage("self")
}

/// Resident memory (bytes) and CPU time (user + system) of process `pid` (`self` too);
/// zero for a process that is gone.
pub fn proc_usage(pid: &str) -> (u64, Duration) {
    let process = match pid.parse::<i32>() {
        Ok(pid) => procfs::process::Process::new(pid),
        Err(_) => procfs::process::Process::myself(),
    };
    let Ok(process) = process else {
        return (0, Duration::ZERO);
    };
    let rss = process
        .status()
        .ok()
        .and_then(|s| s.vmrss)
        .unwrap_or_default();
    let ticks = process
        .stat()
        .map(|s| s.utime + s.stime)
        .unwrap_or_default();
    let cpu = Duration::from_secs_f64(ticks as f64 / procfs::ticks_per_second() as f64);
    (rss * 1024, cpu)
}
