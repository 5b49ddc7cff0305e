//! `/file`: uploads into the object store (streamed through a temp file, never held in
//! memory), listing, metadata, delete and stale deploys; and the job-backed
//! `/node/{hostname}/file/deploy|status`.

use std::collections::{BTreeMap, HashMap};

use async_nats::jetstream::object_store::{ObjectMetadata, ObjectStore};
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::{routing, Json, Router};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::auth::Permission;
use crate::controller::error::{ApiError, ErrorResponse};
use crate::controller::extract::Named;
use crate::controller::state::AppState;
use crate::wire::objects::{Deleted, FileInfo, FileList, StaleFile, StaleList};
use crate::wire::ops::file::{check_object_name, FileState};

/// Object metadata keys.
const META_SHA: &str = "osapi-sha256";
const META_TYPE: &str = "osapi-content-type";

fn store(state: &AppState) -> Result<&ObjectStore, ApiError> {
    state.backend()?.resources.objects.as_ref().ok_or_else(|| {
        ApiError::NotFound(
            "file storage is not available: nats.objects.bucket is empty, or JetStream had no \
             room for nats.objects.max_bytes (see the controller's log)"
                .into(),
        )
    })
}

fn unavailable(e: impl Into<crate::nats::BoxError>) -> ApiError {
    ApiError::nats(e)
}

fn info_of(o: &async_nats::jetstream::object_store::ObjectInfo) -> FileInfo {
    FileInfo {
        name: o.name.clone(),
        sha256: o.metadata.get(META_SHA).cloned().unwrap_or_default(),
        size: o.size as u64,
        content_type: o
            .metadata
            .get(META_TYPE)
            .cloned()
            .unwrap_or_else(|| "raw".into()),
        changed: None,
    }
}

/// Current metadata of an object, `None` if absent or deleted.
async fn current(store: &ObjectStore, name: &str) -> Result<Option<FileInfo>, ApiError> {
    match store.info(name).await {
        Ok(o) if !o.deleted => Ok(Some(info_of(&o))),
        Ok(_) => Ok(None),
        Err(e) if e.kind() == async_nats::jetstream::object_store::InfoErrorKind::NotFound => {
            Ok(None)
        }
        Err(e) => Err(unavailable(e)),
    }
}

/// A multipart file part written to a temp file while hashing.
struct Staged {
    path: tempfile::TempPath,
    sha256: String,
    size: u64,
}

async fn stage(mut field: axum::extract::multipart::Field<'_>) -> Result<Staged, ApiError> {
    let io = |e: std::io::Error| ApiError::Internal(format!("staging upload: {e}"));
    let (file, path) = tempfile::NamedTempFile::new().map_err(io)?.into_parts();
    let mut file = tokio::fs::File::from_std(file);
    let mut hash = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| ApiError::bad_request("file", format!("upload interrupted: {e}")))?
    {
        hash.update(&chunk);
        size += chunk.len() as u64;
        file.write_all(&chunk).await.map_err(io)?;
    }
    file.flush().await.map_err(io)?;
    Ok(Staged {
        path,
        sha256: format!("{:x}", hash.finalize()),
        size,
    })
}

async fn part_text(f: axum::extract::multipart::Field<'_>, key: &str) -> Result<String, ApiError> {
    f.text()
        .await
        .map_err(|e| ApiError::bad_request(key, e.to_string()))
}

/// The parts of an upload, as `upload` reads them (for the API description). Other
/// parts are skipped.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
struct UploadForm {
    /// The object's name.
    #[schema(schema_with = object_name_schema)]
    name: String,
    /// `raw` (default) or `template`.
    #[schema(schema_with = content_type_schema)]
    content_type: Option<String>,
    /// The content; not empty.
    #[schema(value_type = String, format = Binary, min_length = 1)]
    file: Vec<u8>,
}

fn object_name_schema() -> utoipa::openapi::schema::Object {
    crate::wire::ops::file::OBJECT_NAME.schema()
}

fn content_type_schema() -> utoipa::openapi::schema::Object {
    crate::wire::rules::one_of(&crate::wire::ops::file::CONTENT_TYPES, false)
}

/// Upload: same name and content is `changed: false`; other content is 409 unless
/// `?force=true`.
#[utoipa::path(post, path = "/file", tag = "file",
    params(("force" = Option<bool>, Query)),
    request_body(content = UploadForm, content_type = "multipart/form-data", description = "parts: name, content_type (raw|template), file"),
    responses((status = 201, body = FileInfo), (status = 400, body = ErrorResponse), (status = 409, body = ErrorResponse)),
    security(("BearerAuth" = ["file:write"])))]
pub async fn upload(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<FileInfo>), ApiError> {
    // axum's own rejection is plain text: answer with the API's JSON error instead.
    let mut multipart = multipart.map_err(|e| {
        ApiError::bad_request(
            "body",
            format!("a multipart/form-data body is required: {e}"),
        )
    })?;
    let force = match query.get("force").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(
                "force",
                format!("force must be true or false, not {other:?}"),
            ))
        }
    };
    let (mut name, mut content_type, mut staged) = (None, "raw".to_owned(), None);
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request("body", format!("bad multipart body: {e}")))?
    {
        match field.name() {
            Some("name") => name = Some(part_text(field, "name").await?),
            Some("content_type") => content_type = part_text(field, "content_type").await?,
            Some("file") => staged = Some(stage(field).await?),
            // As the original: other parts are ignored (the parser skips their bytes).
            _ => {}
        }
    }
    let name = name.ok_or_else(|| ApiError::bad_request("name", "the name part is required"))?;
    check_object_name(&name).map_err(|e| ApiError::bad_request("name", e))?;
    if !crate::wire::ops::file::CONTENT_TYPES.contains(&content_type.as_str()) {
        return Err(ApiError::bad_request(
            "content_type",
            "content_type must be raw or template",
        ));
    }
    let staged =
        staged.ok_or_else(|| ApiError::bad_request("file", "the file part is required"))?;
    if staged.size == 0 {
        return Err(ApiError::bad_request("file", "the file is empty"));
    }
    let store = store(&state)?;
    if let Some(existing) = current(store, &name).await? {
        let same_bytes = existing.sha256 == staged.sha256;
        if same_bytes && existing.content_type == content_type && !force {
            return Ok((
                StatusCode::CREATED,
                Json(FileInfo {
                    changed: Some(false),
                    ..existing
                }),
            ));
        }
        // The same bytes with another content type are no conflict: the type is updated.
        if !same_bytes && !force {
            return Err(ApiError::Conflict(format!(
                "file {name:?} exists with other content (sha256 {}); upload with ?force=true to replace it",
                existing.sha256
            )));
        }
    }
    let mut file = tokio::fs::File::open(&staged.path)
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    let meta = ObjectMetadata {
        name: name.clone(),
        metadata: HashMap::from([
            (META_SHA.to_owned(), staged.sha256.clone()),
            (META_TYPE.to_owned(), content_type.clone()),
        ]),
        ..Default::default()
    };
    store.put(meta, &mut file).await.map_err(unavailable)?;
    Ok((
        StatusCode::CREATED,
        Json(FileInfo {
            name,
            sha256: staged.sha256,
            size: staged.size,
            content_type,
            changed: Some(true),
        }),
    ))
}

/// Every stored file.
#[utoipa::path(get, path = "/file", tag = "file", responses((status = 200, body = FileList)),
    security(("BearerAuth" = ["file:read"])))]
pub async fn list(State(state): State<AppState>) -> Result<Json<FileList>, ApiError> {
    store(&state)?;
    let (stream, prefix) = state
        .backend()?
        .resources
        .objects_meta
        .as_ref()
        .ok_or_else(|| ApiError::Internal("object store open without its stream".into()))?;
    // The object store's own listing leaves an ordered consumer behind per call; the
    // shared scan deletes its consumer at once.
    let space = crate::nats::kv_scan::Keyspace { stream, prefix };
    let entries = crate::nats::kv_scan::scan_keyspace(space, ">", true)
        .await
        .map_err(unavailable)?;
    let mut files = Vec::new();
    for (key, value) in entries {
        match serde_json::from_slice::<async_nats::jetstream::object_store::ObjectInfo>(&value) {
            Ok(o) if !o.deleted => files.push(info_of(&o)),
            Ok(_) => {}
            Err(e) => tracing::warn!(%key, error = %e, "unreadable object metadata"),
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Json(FileList {
        total: files.len(),
        files,
    }))
}

/// One file's metadata.
#[utoipa::path(get, path = "/file/{name}", tag = "file", params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*\\.?$", min_length = 1, max_length = 255)),
    responses((status = 200, body = FileInfo), (status = 404, body = ErrorResponse)),
    security(("BearerAuth" = ["file:read"])))]
pub async fn get(Named(state, name): Named) -> Result<Json<FileInfo>, ApiError> {
    check_object_name(&name).map_err(|e| ApiError::bad_request("name", e))?;
    current(store(&state)?, &name)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("file {name:?} not found")))
}

/// Removes a file from the store (deployed copies stay where they are).
#[utoipa::path(delete, path = "/file/{name}", tag = "file", params(("name" = String, Path, pattern = "^[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*\\.?$", min_length = 1, max_length = 255)),
    responses((status = 200, body = Deleted), (status = 404, body = ErrorResponse)),
    security(("BearerAuth" = ["file:write"])))]
pub async fn delete(Named(state, name): Named) -> Result<Json<Deleted>, ApiError> {
    check_object_name(&name).map_err(|e| ApiError::bad_request("name", e))?;
    let store = store(&state)?;
    if current(store, &name).await?.is_none() {
        return Err(ApiError::NotFound(format!("file {name:?} not found")));
    }
    store.delete(&name).await.map_err(unavailable)?;
    Ok(Json(Deleted {
        name,
        deleted: true,
    }))
}

/// Deployed files (not undeployed since) whose object changed since their deploy.
#[utoipa::path(get, path = "/file/stale", tag = "file", responses((status = 200, body = StaleList)),
    security(("BearerAuth" = ["file:read"])))]
pub async fn stale(State(state): State<AppState>) -> Result<Json<StaleList>, ApiError> {
    let store = store(&state)?;
    let Some(kv) = state.backend()?.resources.file_state.as_ref() else {
        return Ok(Json(StaleList {
            stale: Vec::new(),
            total: 0,
        }));
    };
    let mut shas: BTreeMap<String, String> = BTreeMap::new();
    let mut out = Vec::new();
    for (_, value) in crate::nats::kv_scan::scan(kv, ">", true)
        .await
        .map_err(unavailable)?
    {
        let Ok(s) = serde_json::from_slice::<FileState>(&value) else {
            continue;
        };
        if s.undeployed_at.is_some() {
            continue;
        }
        if !shas.contains_key(&s.object_name) {
            let sha = current(store, &s.object_name)
                .await?
                .map(|i| i.sha256)
                .unwrap_or_default();
            shas.insert(s.object_name.clone(), sha);
        }
        let now = shas.get(&s.object_name).cloned().unwrap_or_default();
        if now != s.object_sha256 {
            out.push(StaleFile {
                provider: StaleFile::provider_of(&s.path).to_owned(),
                hostname: s.hostname,
                path: s.path,
                object_name: s.object_name,
                deployed_sha: s.object_sha256,
                current_sha: now,
                deployed_at: s.deployed_at,
            });
        }
    }
    Ok(Json(StaleList {
        total: out.len(),
        stale: out,
    }))
}

/// 400 naming `field` unless object `name` is stored.
pub async fn require_object(state: &AppState, field: &str, name: &str) -> Result<(), ApiError> {
    match current(store(state)?, name).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::bad_request(
            field,
            format!("file {name:?} was not uploaded"),
        )),
    }
}

/// The object store routes (the job-backed file operations come from the catalogue).
pub fn router(state: &AppState) -> Router<AppState> {
    let max_upload = usize::try_from(state.config.nats.objects.max_bytes).unwrap_or(usize::MAX);
    let read = Router::new()
        .route("/file", routing::get(list))
        .route("/file/stale", routing::get(stale))
        .route("/file/{name}", routing::get(self::get));
    let write = Router::new()
        .route(
            "/file",
            routing::post(upload).layer(axum::extract::DefaultBodyLimit::max(max_upload)),
        )
        .route("/file/{name}", routing::delete(self::delete));
    super::by_permission(
        state,
        [(Permission::FileRead, read), (Permission::FileWrite, write)],
    )
}
