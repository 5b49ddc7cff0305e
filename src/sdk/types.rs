//! Request and response types of the typed client: the wire types (one definition per
//! shape, in [`crate::wire`]), plus the few shapes only the SDK produces.

use serde::{Deserialize, Serialize};

pub use crate::conditions::Condition;
pub use crate::wire::agent::{AgentInfo, AgentList, DrainResponse};
pub use crate::wire::audit::{AuditEntry, AuditEntryResponse, ListAuditResponse};
pub use crate::wire::events::{AcceptedJob, FleetEvent, FleetKind, JobDone, JobStreamEvent};
pub use crate::wire::facts::{FactKey, FactKeys, Facts};
pub use crate::wire::health::{
    AgentCounts, AgentSummary, ComponentHealth, ConsumerCounts, ConsumerInfo, HealthResponse,
    JobCounts, KvBucketInfo, NatsInfo, ObjectStoreInfo, RegistryEntry, StatusResponse, StreamInfo,
};
pub use crate::wire::job::{
    AgentState, CreateJobResponse, JobDetailResponse, JobEvent, JobHostResponse, JobOperation,
    JobResponse, JobStatus, ListJobsResponse, OverallStatus, RetryJobRequest, RetryRequest,
    RetryResponse, StatusEvent, TimelineEvent,
};
pub use crate::wire::objects::{Deleted, FileInfo, FileList, StaleFile, StaleList};
pub use crate::wire::ops::command::{CommandExecRequest, CommandPayload, CommandShellRequest};
pub use crate::wire::ops::file::{
    DeployPayload, DeployRequest, FileStatusItem, StatusPayload as FileStatusPayload, StatusRequest,
};
pub use crate::wire::ops::network::{
    DnsPayload, DnsUpdateRequest, DnsUpdateResult, PingPayload, PingRequest,
};
pub use crate::wire::ops::node::{
    Disk, DiskPayload, HostnameResponse, LoadAverage, LoadPayload, Memory, MemoryPayload, OsInfo,
    OsPayload, StatusPayload as NodeStatusPayload, UptimePayload,
};
pub use crate::wire::{Collection, HostResult};

/// Outcome of [`Client::file_upload_bytes`](super::Client::file_upload_bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileUploadResult {
    /// Object name.
    pub name: String,
    /// SHA-256 (hex) of the content.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// False when the stored object already had this content (nothing was sent).
    pub changed: bool,
    /// `raw` or `template`.
    pub content_type: String,
}

/// Outcome of [`Client::file_changed`](super::Client::file_changed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChangedResult {
    /// Object name.
    pub name: String,
    /// True when the object is missing or its SHA-256 differs from the local data.
    pub changed: bool,
    /// SHA-256 (hex) of the local data.
    pub sha256: String,
}

/// One host's entry in a node response (the wire's per-host item trait).
pub use crate::wire::HostItem as HostEntry;
/// A per-host payload that may report a failure of its own.
pub use crate::wire::Payload as HostPayload;
