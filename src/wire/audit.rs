//! `/audit` answers: recorded API calls.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One recorded call.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: String,
    pub timestamp: String,
    /// The token's subject.
    pub user: String,
    pub roles: Vec<String>,
    pub method: String,
    pub path: String,
    pub response_code: u16,
    pub duration_ms: u64,
    pub source_ip: String,
    /// The API operation (never set, as in the original).
    pub operation_id: Option<String>,
    pub trace_id: Option<String>,
    /// The JSON request body with secrets masked.
    #[schema(value_type = Option<Value>)]
    pub body: Option<Value>,
}

/// `GET /audit` and `GET /audit/export`: entries, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ListAuditResponse {
    pub total_items: usize,
    pub items: Vec<AuditEntry>,
}

/// `GET /audit/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEntryResponse {
    pub entry: AuditEntry,
}
