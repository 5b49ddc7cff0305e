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

/// A deployed file whose object changed (or vanished) since it was deployed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StaleFile {
    pub hostname: String,
    pub path: String,
    pub object_name: String,
    pub deployed_object_sha256: String,
    /// Empty when the object was deleted.
    pub current_object_sha256: String,
}

/// `GET /file/stale`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StaleList {
    pub stale: Vec<StaleFile>,
    pub total: usize,
}
