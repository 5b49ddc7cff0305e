//! `osapi client agent ...`: list and inspect agents, drain and undrain them.

use std::process::ExitCode;

use clap::Subcommand;

use super::print;
use crate::cli::render::{
    age_since, bytes, dash, dash_zero, labels, num, or_dash, rows_of, table, Show,
};
use crate::sdk::endpoint;
use crate::sdk::{AgentInfo, AgentList, Client, DrainResponse, Facts};

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Registered agents.
    List,
    /// One agent with its facts.
    Get {
        #[arg(long)]
        hostname: String,
    },
    /// Stop giving the agent new jobs.
    Drain {
        #[arg(long)]
        hostname: String,
    },
    /// Let a drained agent take jobs again.
    Undrain {
        #[arg(long)]
        hostname: String,
    },
    /// The agents' part of the health status.
    Status,
}

/// Runs an `agent` subcommand.
pub async fn run(client: &Client, command: AgentCommand, json: bool) -> anyhow::Result<ExitCode> {
    match command {
        AgentCommand::Status => super::health::component_status(client, "agent", json).await,
        AgentCommand::List => print(client, endpoint::agent_list(), json).await,
        AgentCommand::Get { hostname } => print(client, endpoint::agent_get(&hostname), json).await,
        AgentCommand::Drain { hostname } => {
            print(client, endpoint::agent_drain(&hostname), json).await
        }
        AgentCommand::Undrain { hostname } => {
            print(client, endpoint::agent_undrain(&hostname), json).await
        }
    }
}

impl AgentInfo {
    /// The agent's name, with the host's new name after a rename through osapi.
    fn hostname_text(&self) -> String {
        match &self.current_hostname {
            Some(now) => format!("{} (renamed {now})", self.hostname),
            None => self.hostname.clone(),
        }
    }

    /// `Ready` unless draining or drained.
    fn state_text(&self) -> &str {
        if self.state.is_empty() {
            "Ready"
        } else {
            &self.state
        }
    }

    /// `Ubuntu 24.04`, or `-` before the agent reported its OS.
    fn os_text(&self) -> String {
        match self.facts.as_ref().and_then(|f| f.os.as_ref()) {
            Some(os) => format!("{} {}", os.distribution, os.version),
            None => "-".into(),
        }
    }

    /// Active condition types, comma-joined, or `-`.
    fn active_conditions(&self) -> String {
        let active: Vec<&str> = self
            .conditions
            .iter()
            .filter(|c| c.status)
            .map(|c| c.kind.as_str())
            .collect();
        if active.is_empty() {
            "-".into()
        } else {
            active.join(", ")
        }
    }
}

/// `GET /agent` as a table.
impl Show for AgentList {
    fn show(&self) -> String {
        if self.agents.is_empty() {
            return "\n  No active agents found.".into();
        }
        let rows = rows_of(&self.agents, |a| {
            vec![
                a.hostname_text(),
                a.state_text().to_owned(),
                a.active_conditions(),
                labels(Some(&a.labels)),
                age_since(&a.started_at),
                or_dash(a.load_average.as_ref().map(|l| num(l.one))),
                a.os_text(),
            ]
        });
        let headers = [
            "hostname",
            "status",
            "conditions",
            "labels",
            "age",
            "load (1m)",
            "os",
        ];
        format!(
            "\n  Active Agents ({}):\n\n{}",
            self.total,
            table(&headers, rows)
        )
    }
}

/// `GET /agent/{hostname}`: identity, state and facts.
impl Show for AgentInfo {
    fn show(&self) -> String {
        let facts = self.facts.clone().unwrap_or_default();
        let mut out = self.identity();
        out.push_str(&self.resources(&facts));
        for i in &facts.interfaces {
            out.push_str(&format!(
                "  Interface {}: {} {} {}\n",
                i.name,
                dash(&i.ipv4),
                dash(&i.ipv6),
                dash(&i.mac),
            ));
        }
        out.push_str(&routes(&facts));
        out.push_str(&self.conditions_table());
        out
    }
}

impl AgentInfo {
    fn identity(&self) -> String {
        format!(
            "\n  Hostname: {}  Status: {}\n  State: {}\n  Labels: {}\n  OS: {}\n  Uptime: {}\n  Age: {}  Last Seen: {}  Version: {}\n",
            self.hostname_text(),
            self.status,
            self.state_text(),
            labels(Some(&self.labels)),
            self.os_text(),
            dash(&self.uptime),
            age_since(&self.started_at),
            age_since(&self.registered_at),
            dash(&self.agent_version),
        )
    }

    fn resources(&self, f: &Facts) -> String {
        let load = |pick: fn(&crate::sdk::LoadAverage) -> f64| {
            or_dash(self.load_average.as_ref().map(|l| num(pick(l))))
        };
        let mem = |pick: fn(&crate::sdk::Memory) -> u64| {
            or_dash(self.memory.as_ref().map(|m| bytes(pick(m))))
        };
        format!(
            "  Arch: {}  Kernel: {}  CPUs: {}  FQDN: {}\n  Load: {}, {}, {}\n  Memory: {} used / {} total / {} free\n  Service Mgr: {}  Package Mgr: {}  Primary Iface: {}\n",
            dash(&f.architecture),
            dash(&f.kernel_version),
            dash_zero(f.cpu_count),
            dash(&f.fqdn),
            load(|l| l.one),
            load(|l| l.five),
            load(|l| l.fifteen),
            mem(|m| m.used),
            mem(|m| m.total),
            mem(|m| m.free),
            dash(&f.service_mgr),
            dash(&f.package_mgr),
            dash(&f.primary_interface),
        )
    }

    fn conditions_table(&self) -> String {
        if self.conditions.is_empty() {
            return String::new();
        }
        let rows = rows_of(&self.conditions, |c| {
            vec![
                c.kind.clone(),
                c.status.to_string(),
                dash(&c.reason),
                age_since(&c.last_transition_time),
            ]
        });
        let table = table(&["type", "status", "reason", "since"], rows);
        format!("\n  Conditions:\n{table}")
    }
}

fn routes(f: &Facts) -> String {
    if f.routes.is_empty() {
        return String::new();
    }
    let rows = rows_of(&f.routes, |r| {
        vec![
            r.destination.clone(),
            r.gateway.clone(),
            r.interface.clone(),
            dash(&r.mask),
            dash_zero(r.metric),
        ]
    });
    let headers = ["destination", "gateway", "interface", "mask", "metric"];
    format!("\n  Routes:\n{}\n", table(&headers, rows))
}

/// Answer of drain and undrain.
impl Show for DrainResponse {
    fn show(&self) -> String {
        format!(
            "\n  Hostname: {}  Status: {}\n  Message: {}",
            self.hostname, self.status, self.message
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn agents(body: serde_json::Value) -> AgentList {
        serde_json::from_value(body).expect("an agent list")
    }

    #[test]
    fn agent_list_shows_state_conditions_and_os() {
        let body = agents(json!({"total": 1, "agents": [{
            "hostname": "web-01", "status": "Ready", "state": "Draining",
            "conditions": [{"type": "HighLoad", "status": true, "last_transition_time": ""}],
            "load_average": {"1min": 0.5, "5min": 0.1, "15min": 0.0},
            "os_info": {"distribution": "Ubuntu", "version": "24.04"},
            "collected_at": "2025-01-01T00:00:05Z"
        }]}));
        let out = body.show();
        for want in [
            "Active Agents (1)",
            "Draining",
            "HighLoad",
            "0.5",
            "Ubuntu 24.04",
        ] {
            assert!(out.contains(want), "{want}:\n{out}");
        }
        let none = agents(json!({"total": 0, "agents": []}));
        assert!(none.show().contains("No active agents found."));
    }

    #[test]
    fn agent_detail_dashes_what_is_not_reported() {
        let a: AgentInfo = serde_json::from_value(json!({
            "hostname": "web-01", "status": "Ready",
            "load_average": {"1min": 1.0, "5min": 0.5, "15min": 0.0}
        }))
        .expect("an agent");
        let out = a.show();
        for want in [
            "Hostname: web-01  Status: Ready",
            "State: Ready",
            "OS: -",
            "Load: 1.0, 0.5, 0.0",
            "Memory: - used / - total / - free",
            "CPUs: -",
        ] {
            assert!(out.contains(want), "{want}:\n{out}");
        }
    }
}
