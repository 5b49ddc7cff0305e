//! Providers: the only code that reads or changes the operating system.
//!
//! Each domain is a trait with a Linux implementation, so tests and other platforms plug in.

pub mod accounts;
pub mod certificate;
pub mod command;
pub mod cron;
pub mod dns;
pub mod docker;
pub mod facts;
pub mod file;
pub mod host;
pub mod log;
pub mod managed;
pub mod netplan;
pub mod node;
pub mod ntp;
pub mod package;
pub mod ping;
pub mod process;
pub mod runner;
pub mod service;
pub mod ssh_key;
pub mod sysctl;
pub mod system;
pub mod user;

use std::sync::Arc;

/// A provider could not do its work. The message is shown to the user, per host.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    /// The agent lacks the rights (least privilege: reported, not fatal).
    #[error("permission denied: {0}")]
    PermissionDenied(String),
    /// The thing asked about (file, interface, program) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request itself is unusable (a malformed address, an empty program name).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The operation does not apply on this host (a container, a missing subsystem): the
    /// host answers `skipped` with this reason instead of failing.
    #[error("not supported on this host: {0}")]
    Unsupported(String),
    /// Anything else; the message says what failed.
    #[error("{0}")]
    Failed(String),
}

impl ProviderError {
    /// Classifies an I/O error on `what` (EACCES and EPERM become `PermissionDenied`).
    pub fn from_io(what: &str, e: std::io::Error) -> Self {
        Self::classify(what, &e)
    }

    /// [`Self::from_io`] on a borrowed error (one kept as another error's source).
    pub fn classify(what: &str, e: &std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::PermissionDenied => Self::PermissionDenied(format!("{what}: {e}")),
            std::io::ErrorKind::NotFound => Self::NotFound(format!("{what}: {e}")),
            _ => Self::Failed(format!("{what}: {e}")),
        }
    }
}

/// Every provider an agent uses.
#[derive(Clone)]
pub struct Providers {
    pub node: Arc<dyn node::NodeProvider>,
    pub dns: Arc<dyn dns::DnsProvider>,
    pub ping: Arc<dyn ping::Pinger>,
    pub command: Arc<dyn command::CommandRunner>,
    /// Host facts (`/proc`, interfaces, `PATH`).
    pub facts: Arc<dyn facts::FactsProvider>,
    /// Deployed files, under the system root.
    pub files: Arc<dyn file::FileProvider>,
    /// Hostname, time zone, power.
    pub host: Arc<dyn host::HostSettings>,
    /// Managed kernel parameters.
    pub sysctl: Arc<dyn sysctl::SysctlProvider>,
    /// Time sources (chrony).
    pub ntp: Arc<dyn ntp::NtpProvider>,
    /// Managed cron entries.
    pub cron: Arc<dyn cron::CronProvider>,
    /// Debian packages.
    pub packages: Arc<dyn package::PackageProvider>,
    /// systemd services and managed unit files.
    pub services: Arc<dyn service::ServiceProvider>,
    /// Local groups.
    pub groups: Arc<dyn accounts::GroupProvider>,
    /// Local users.
    pub users: Arc<dyn user::UserProvider>,
    /// Users' authorized SSH keys.
    pub ssh_keys: Arc<dyn ssh_key::SshKeyProvider>,
    /// Trusted CA certificates.
    pub certificates: Arc<dyn certificate::CertificateProvider>,
    /// The host's processes (/proc, kill(2)).
    pub processes: Arc<dyn process::ProcessProvider>,
    /// The systemd journal (`journalctl`).
    pub logs: Arc<dyn log::LogProvider>,
    /// Live interfaces and routes, and the managed Netplan drop-ins.
    pub netplan: Arc<dyn netplan::NetplanProvider>,
    /// Containers and images of the Docker daemon (Engine API on its socket).
    pub docker: Arc<dyn docker::DockerProvider>,
}

impl Providers {
    /// The providers for the machine this runs on.
    pub fn linux() -> Self {
        Self::with_node(Arc::new(node::LinuxNode))
    }

    /// Linux providers with another node provider (tests, other platforms).
    pub fn with_node(node: Arc<dyn node::NodeProvider>) -> Self {
        Self {
            node,
            dns: dns::linux_dns(),
            ping: Arc::new(ping::LinuxPinger),
            command: Arc::new(command::LinuxCommand),
            facts: Arc::new(facts::LinuxFacts::default()),
            files: Arc::new(file::LinuxFiles::default()),
            host: Arc::new(host::LinuxHost::default()),
            sysctl: Arc::new(sysctl::LinuxSysctl::default()),
            ntp: Arc::new(ntp::LinuxNtp::default()),
            cron: Arc::new(cron::LinuxCron::default()),
            packages: Arc::new(package::LinuxPackages::default()),
            services: Arc::new(service::LinuxServices::default()),
            groups: Arc::new(accounts::LinuxAccounts::default()),
            users: Arc::new(accounts::LinuxAccounts::default()),
            ssh_keys: Arc::new(accounts::LinuxAccounts::default()),
            certificates: Arc::new(certificate::LinuxCertificates::default()),
            processes: Arc::new(process::LinuxProcesses),
            logs: Arc::new(log::LinuxLogs::default()),
            netplan: Arc::new(netplan::LinuxNetplan::default()),
            docker: Arc::new(docker::LinuxDocker::default()),
        }
    }

    /// The providers for this machine, as `config` sets them up (the Docker socket).
    pub fn for_agent(config: &crate::config::AgentConfig) -> Self {
        Self {
            docker: Arc::new(docker::LinuxDocker::new(&config.docker.socket)),
            ..Self::linux()
        }
    }
}
