//! Debian packages: what is installed from `dpkg-query`, changes through `apt-get`
//! (noninteractive, keeping local config files), updates from `apt list --upgradable`.
//! Every tool runs through the system's runner.

use super::system::LinuxSystem;
use super::ProviderError;
pub use crate::wire::ops::package::{PackageInfo, UpdateInfo, APT_TIMEOUT};

/// Reads and changes installed packages. Writes return whether anything changed.
pub trait PackageProvider: Send + Sync {
    /// Installed packages: every one, or only `name`.
    fn list(&self, name: Option<&str>) -> Result<Vec<PackageInfo>, ProviderError>;
    /// Installs `name`; `false` when it is installed already.
    fn install(&self, name: &str) -> Result<bool, ProviderError>;
    /// Removes `name`; `false` when it is not installed.
    fn remove(&self, name: &str) -> Result<bool, ProviderError>;
    /// Refreshes the package index (`apt-get update`); always a change.
    fn refresh(&self) -> Result<bool, ProviderError>;
    /// Packages the index has newer versions of.
    fn updates(&self) -> Result<Vec<UpdateInfo>, ProviderError>;
}

/// Packages of the system, through its runner.
pub type LinuxPackages = LinuxSystem;

/// `dpkg-query` row: name, version, summary, status (`ii ` when installed), KiB.
const FORMAT: &str = "--showformat=${Package}\t${Version}\t${binary:Summary}\t${db:Status-Abbrev}\t${Installed-Size}\n";

/// apt-get without questions: local config files are kept, defaults taken.
const APT_GET: [&str; 7] = [
    "env",
    "DEBIAN_FRONTEND=noninteractive",
    "apt-get",
    "-y",
    "-q",
    "-o",
    "Dpkg::Options::=--force-confold",
];

impl LinuxPackages {
    fn installed(&self, name: &str) -> Result<bool, ProviderError> {
        Ok(!self.list(Some(name))?.is_empty())
    }

    /// Runs `apt-get <args>` within the apt time limit.
    fn apt_get(&self, args: &[&str]) -> Result<(), ProviderError> {
        if !self.runner.has("apt-get") {
            return Err(ProviderError::Unsupported(
                "apt-get is not installed".into(),
            ));
        }
        let argv: Vec<&str> = APT_GET.iter().chain(args).copied().collect();
        self.runner.run_for(&argv, APT_TIMEOUT)?.success(&argv)?;
        Ok(())
    }
}

/// The installed rows of `dpkg-query` output.
fn parse_rows(text: &str) -> Vec<PackageInfo> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split('\t');
            let (name, version, summary, status) = (f.next()?, f.next()?, f.next()?, f.next()?);
            let kib: Option<u64> = f.next().and_then(|s| s.trim().parse().ok());
            status.starts_with("ii").then(|| PackageInfo {
                name: name.to_owned(),
                version: version.to_owned(),
                description: Some(summary.to_owned()).filter(|s| !s.is_empty()),
                status: "installed".into(),
                size: kib.map(|k| k * 1024),
            })
        })
        .collect()
}

/// `name/suite new arch [upgradable from: current]` lines of `apt list --upgradable`.
fn parse_upgradable(text: &str) -> Vec<UpdateInfo> {
    text.lines()
        .filter_map(|line| {
            let (head, from) = line.split_once("[upgradable from: ")?;
            let mut words = head.split_whitespace();
            let name = words.next()?.split('/').next()?;
            Some(UpdateInfo {
                name: name.to_owned(),
                new_version: words.next()?.to_owned(),
                current_version: from.trim_end_matches(']').trim().to_owned(),
            })
        })
        .collect()
}

impl PackageProvider for LinuxPackages {
    fn list(&self, name: Option<&str>) -> Result<Vec<PackageInfo>, ProviderError> {
        if !self.runner.has("dpkg-query") {
            return Err(ProviderError::Unsupported(
                "dpkg-query is not installed".into(),
            ));
        }
        let mut argv = vec!["dpkg-query", "-W", FORMAT];
        argv.extend(name);
        let out = self.runner.run(&argv)?;
        // Exit 1: no package matches the name (never installed, or unknown).
        if out.exit_code == 1 && name.is_some() {
            return Ok(Vec::new());
        }
        Ok(parse_rows(&out.success(&argv)?))
    }

    fn install(&self, name: &str) -> Result<bool, ProviderError> {
        if self.installed(name)? {
            return Ok(false);
        }
        self.apt_get(&["install", name])?;
        Ok(true)
    }

    fn remove(&self, name: &str) -> Result<bool, ProviderError> {
        if !self.installed(name)? {
            return Ok(false);
        }
        self.apt_get(&["remove", name])?;
        Ok(true)
    }

    fn refresh(&self) -> Result<bool, ProviderError> {
        self.apt_get(&["update"])?;
        Ok(true)
    }

    fn updates(&self) -> Result<Vec<UpdateInfo>, ProviderError> {
        if !self.runner.has("apt") {
            return Err(ProviderError::Unsupported("apt is not installed".into()));
        }
        let argv = ["apt", "list", "--upgradable"];
        Ok(parse_upgradable(&self.runner.check(&argv)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpkg_rows_keep_installed_packages() {
        let text = "bash\t5.2.15-2+b7\tGNU Bourne Again SHell\tii \t7164\n\
                    gone\t1.0\tremoved, config kept\trc \t10\n\
                    tiny\t1\t\tii \t\n";
        let rows = parse_rows(text);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].size, Some(7164 * 1024));
        assert_eq!(
            rows[0].description.as_deref(),
            Some("GNU Bourne Again SHell")
        );
        assert_eq!((rows[1].description.as_ref(), rows[1].size), (None, None));
    }

    #[test]
    fn upgradable_lines() {
        let text = "Listing...\n\
                    curl/stable-security 7.88.1-10+deb12u8 amd64 [upgradable from: 7.88.1-10+deb12u7]\n";
        assert_eq!(
            parse_upgradable(text),
            [UpdateInfo {
                name: "curl".into(),
                current_version: "7.88.1-10+deb12u7".into(),
                new_version: "7.88.1-10+deb12u8".into(),
            }]
        );
    }
}
