//! group-by-fact: group the fleet by a fact and run a different command per group. Here
//! the fact is `os.distribution` and the command counts installed packages with the
//! distribution's package tool (read-only). Agents without the fact are left out.
//!
//! DAG (one shell step per host of each group, all in parallel):
//!   health-check
//!       ├── packages-<distro>-<host>
//!       └── ...
//!
//! Run: `cargo run --example group-by-fact` (with OSAPI_TOKEN set)

use osapi::orchestrator::ops::types::CommandResult;
use osapi::orchestrator::Orchestrator;

/// A read-only package count for a distribution.
fn count_packages(distro: &str) -> &'static str {
    match distro.to_ascii_lowercase().as_str() {
        "ubuntu" | "debian" => "dpkg-query -f '.\\n' -W | wc -l",
        "centos" | "rocky" | "almalinux" | "fedora" | "rhel" => "rpm -qa | wc -l",
        "alpine" => "apk info | wc -l",
        _ => "echo unsupported distribution",
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut o = Orchestrator::from_env()?;

    // Queried now, while building the plan; the second argument filters first (none).
    let groups = o.group_by_fact("os.distribution", &[]).await?;

    let health = o.health_check().id();
    let mut steps = Vec::new();
    for (distro, agents) in &groups {
        let command = count_packages(distro);
        println!("group {distro} ({} agents): {command}", agents.len());
        // A target is one host, `_all`, `_any` or a label: one step per host of the group.
        for agent in agents {
            let name = format!("packages-{distro}-{}", agent.hostname);
            o.command_shell(&agent.hostname, command)
                .named(&name)
                .after(health);
            steps.push(name);
        }
    }

    let report = o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;
    println!();
    for name in steps {
        let out: CommandResult = report.decode(&name)?;
        println!("{name}: {}", out.stdout.trim());
    }
    Ok(())
}
