//! Job operations: names, request data and result payloads, shared by the controller
//! (which submits and shapes answers) and the agent (which runs them).

pub mod command;
pub mod file;
pub mod network;
pub mod node;

use std::time::Duration;

use super::OpKind;

/// A named operation and whether it reads or changes the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpName {
    pub name: &'static str,
    pub kind: OpKind,
}

const fn query(name: &'static str) -> OpName {
    OpName {
        name,
        kind: OpKind::Query,
    }
}

const fn modify(name: &'static str) -> OpName {
    OpName {
        name,
        kind: OpKind::Modify,
    }
}

pub const NODE_HOSTNAME_GET: OpName = query("node.hostname.get");
pub const NODE_STATUS_GET: OpName = query("node.status.get");
pub const NODE_UPTIME_GET: OpName = query("node.uptime.get");
pub const NODE_OS_GET: OpName = query("node.os.get");
pub const NODE_DISK_GET: OpName = query("node.disk.get");
pub const NODE_MEMORY_GET: OpName = query("node.memory.get");
pub const NODE_LOAD_GET: OpName = query("node.load.get");
pub const NETWORK_DNS_GET: OpName = query("network.dns.get");
pub const NETWORK_DNS_UPDATE: OpName = modify("network.dns.update");
pub const NETWORK_PING_DO: OpName = query("network.ping.do");
pub const COMMAND_EXEC: OpName = modify("command.exec.execute");
pub const COMMAND_SHELL: OpName = modify("command.shell.execute");
pub const FILE_DEPLOY: OpName = modify("file.deploy.execute");
pub const FILE_STATUS: OpName = query("file.status.get");

/// Go-style duration text (`26h3m4.5s`), as the original's uptime field.
pub fn go_duration(d: Duration) -> String {
    let total = d.as_secs();
    let (h, m) = (total / 3600, (total % 3600) / 60);
    let s = (total % 60) as f64 + f64::from(d.subsec_millis()) / 1000.0;
    let secs = if s.fract() == 0.0 {
        format!("{}s", s as u64)
    } else {
        format!("{s}s")
    };
    match (h, m) {
        (0, 0) => secs,
        (0, m) => format!("{m}m{secs}"),
        (h, m) => format!("{h}h{m}m{secs}"),
    }
}

/// `D days, H hours, M minutes`, as the original's node status.
pub fn human_uptime(d: Duration) -> String {
    let total = d.as_secs();
    format!(
        "{} days, {} hours, {} minutes",
        total / 86400,
        (total % 86400) / 3600,
        (total % 3600) / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_go() {
        assert_eq!(go_duration(Duration::from_secs(93784)), "26h3m4s");
        assert_eq!(go_duration(Duration::from_millis(90500)), "1m30.5s");
        assert_eq!(go_duration(Duration::from_secs(5)), "5s");
        assert_eq!(
            human_uptime(Duration::from_secs(90061)),
            "1 days, 1 hours, 1 minutes"
        );
    }
}
