//! `/file` answers: objects in the object store, and deployed files whose object changed.

use serde::{Deserialize, Serialize};

/// An object's metadata.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileInfo {
    pub name: String,
    /// SHA-256, hex.
    pub sha256: String,
    pub size: u64,
    /// `raw` or `template`.
    pub content_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed: Option<bool>,
}

/// `GET /file`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileList {
    pub files: Vec<FileInfo>,
    pub total: usize,
}

/// `DELETE /file/{name}`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Deleted {
    pub name: String,
    pub deleted: bool,
}

/// A deployed file whose object changed (or vanished) since it was deployed, in the
/// latest original's `StaleDeployment` shape.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StaleFile {
    pub object_name: String,
    pub hostname: String,
    /// The domain that deployed it, from the path: `service`, `certificate`, `cron` or
    /// `file`.
    pub provider: String,
    pub path: String,
    /// SHA-256 of the object when it was deployed.
    pub deployed_sha: String,
    /// SHA-256 of the object now; empty when it was deleted.
    pub current_sha: String,
    pub deployed_at: String,
}

impl StaleFile {
    /// The domain a deployed path belongs to, as the original names it.
    pub fn provider_of(path: &str) -> &'static str {
        const CRON: [&str; 5] = [
            "/etc/cron.d/",
            "/etc/cron.hourly/",
            "/etc/cron.daily/",
            "/etc/cron.weekly/",
            "/etc/cron.monthly/",
        ];
        if path.starts_with("/etc/systemd/system/") {
            "service"
        } else if path.starts_with("/usr/local/share/ca-certificates/") {
            "certificate"
        } else if CRON.iter().any(|d| path.starts_with(d)) {
            "cron"
        } else {
            "file"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::StaleFile;

    #[test]
    fn providers_by_path() {
        for (path, provider) in [
            ("/etc/systemd/system/app.service", "service"),
            ("/usr/local/share/ca-certificates/ca.crt", "certificate"),
            ("/etc/cron.daily/backup", "cron"),
            ("/etc/cron.d/job", "cron"),
            ("/etc/app.conf", "file"),
            ("/etc/cron.dx", "file"),
        ] {
            assert_eq!(StaleFile::provider_of(path), provider, "{path}");
        }
    }
}

/// `GET /file/stale`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StaleList {
    pub stale: Vec<StaleFile>,
    pub total: usize,
}
