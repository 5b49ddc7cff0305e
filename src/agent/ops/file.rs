//! `file.deploy.execute`, `file.undeploy.execute` and `file.status.get`: objects fetched
//! from the object store, templates rendered with MiniJinja, the content checked against
//! the object's SHA-256 and handed to the file provider (which writes it atomically with
//! mode and ownership); state kept in the file-state bucket.

use std::path::PathBuf;

use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

use super::{Done, Handle};
use crate::agent::processor::{ExecContext, OpError};
use crate::job::target::sanitize_hostname;
use crate::provider::file::{FileProvider, Staged, Wanted};
use crate::wire::job::rfc3339;
use crate::wire::ops::file::{
    check_object_name, check_path, parse_mode, DeployPayload, DeployRequest, FileDeploy, FileState,
    FileStatus, FileUndeploy, StatusPayload, StatusRequest, UndeployRequest,
};
use crate::wire::ops::Changed;

/// Templates are read whole to render; raw files stream.
const MAX_TEMPLATE: usize = 1024 * 1024;
const DEFAULT_MODE: u32 = 0o644;

fn state_key(hostname: &str, path: &str) -> String {
    format!(
        "{}.{:x}",
        sanitize_hostname(hostname),
        Sha256::digest(path.as_bytes())
    )
}

/// Runs a file-provider call off the async workers: a slow disk or NSS lookup must not
/// stall the agent's other jobs, heartbeat or acks.
async fn on_files<T: Send + 'static>(
    ctx: &ExecContext,
    f: impl FnOnce(&dyn FileProvider) -> T + Send + 'static,
) -> Result<T, String> {
    let files = ctx.providers.files.clone();
    tokio::task::spawn_blocking(move || f(files.as_ref()))
        .await
        .map_err(|e| format!("provider task failed: {e}"))
}

/// Appends `chunks` to `staged` off the async workers; gives the file back to go on.
async fn write_staged(mut staged: Staged, chunks: Vec<bytes::Bytes>) -> std::io::Result<Staged> {
    tokio::task::spawn_blocking(move || {
        for chunk in &chunks {
            staged.write(chunk)?;
        }
        Ok(staged)
    })
    .await
    .map_err(|e| std::io::Error::other(format!("provider task failed: {e}")))?
}

fn render(
    ctx: &ExecContext,
    template: &str,
    vars: &std::collections::BTreeMap<String, serde_json::Value>,
) -> Result<String, String> {
    let facts = ctx
        .facts
        .read()
        .map_err(|_| "facts unavailable".to_string())?
        .clone();
    let env = {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        // A config file keeps its final newline.
        env.set_keep_trailing_newline(true);
        env
    };
    let context = minijinja::context! {
        hostname => ctx.hostname.clone(),
        facts => minijinja::Value::from_serialize(&facts),
        vars => minijinja::Value::from_serialize(vars),
    };
    env.render_str(template, context)
        .map_err(|e| format!("template error: {e}"))
}

/// The uid and gid asked for: numeric ids as given, names looked up on the host.
async fn uid_gid(
    ctx: &ExecContext,
    owner: &Option<String>,
    group: &Option<String>,
) -> Result<(Option<u32>, Option<u32>), OpError> {
    let by_name = |v: &Option<String>| v.clone().filter(|v| v.parse::<u32>().is_err());
    let (owner_name, group_name) = (by_name(owner), by_name(group));
    let (looked_up_uid, looked_up_gid) = on_files(ctx, move |f| {
        (
            owner_name.map(|o| f.user_id(&o)),
            group_name.map(|g| f.group_id(&g)),
        )
    })
    .await?;
    let uid = match (owner, looked_up_uid) {
        (None, _) => None,
        (Some(o), None) => o.parse::<u32>().ok(),
        (Some(o), Some(found)) => {
            Some(found.ok_or_else(|| OpError::field("owner", format!("unknown owner {o:?}")))?)
        }
    };
    let gid = match (group, looked_up_gid) {
        (None, _) => None,
        (Some(g), None) => g.parse::<u32>().ok(),
        (Some(g), Some(found)) => {
            Some(found.ok_or_else(|| OpError::field("group", format!("unknown group {g:?}")))?)
        }
    };
    Ok((uid, gid))
}

/// An object read whole (templates, scripts, unit files: small by nature), with its
/// metadata's content type (`raw` when it has none).
async fn read_whole(
    objects: &async_nats::jetstream::object_store::ObjectStore,
    name: &str,
) -> Result<(Vec<u8>, String), String> {
    let mut object = objects
        .get(name)
        .await
        .map_err(|e| format!("object {name:?}: {e}"))?;
    let content_type = object
        .info
        .metadata
        .get("osapi-content-type")
        .cloned()
        .unwrap_or_else(raw_type);
    let mut raw = Vec::new();
    (&mut object)
        .take(MAX_TEMPLATE as u64 + 1)
        .read_to_end(&mut raw)
        .await
        .map_err(|e| format!("reading object {name:?}: {e}"))?;
    if raw.len() > MAX_TEMPLATE {
        return Err(format!(
            "object {name:?}: templates, scripts and units are limited to {MAX_TEMPLATE} bytes"
        ));
    }
    Ok((raw, content_type))
}

fn raw_type() -> String {
    "raw".to_owned()
}

/// What `object` renders to on this host: its bytes, or for a template (by
/// `content_type`, else by the type it was uploaded with) the rendered text.
pub(super) async fn object_content(
    ctx: &ExecContext,
    object: &str,
    content_type: Option<&str>,
    vars: &std::collections::BTreeMap<String, serde_json::Value>,
) -> Result<Vec<u8>, OpError> {
    let (objects, _, _) = ctx
        .files
        .as_ref()
        .ok_or("file storage is not configured on this agent")?;
    let (raw, uploaded_as) = read_whole(objects, object).await?;
    if content_type.unwrap_or(&uploaded_as) != "template" {
        return Ok(raw);
    }
    let text = String::from_utf8(raw).map_err(|_| format!("template {object:?} is not UTF-8"))?;
    Ok(render(ctx, &text, vars)?.into_bytes())
}

/// Chunks pulled per request: bounds what is in memory to about 1 MiB however large the
/// object, where the object store's push reader can run far ahead of a slow disk.
const CHUNKS_PER_PULL: usize = 8;

/// Streams an object's chunks into `staged`, pulling a few at a time; gives the file back.
async fn copy_chunks(
    js: &async_nats::jetstream::Context,
    info: &async_nats::jetstream::object_store::ObjectInfo,
    staged: Staged,
    hash: &mut Sha256,
) -> Result<Staged, String> {
    use async_nats::jetstream::consumer::{pull, AckPolicy, DeliverPolicy};
    let fail = |e: &dyn std::fmt::Display| format!("reading object {:?}: {e}", info.name);
    let stream = js
        .get_stream(format!("OBJ_{}", info.bucket))
        .await
        .map_err(|e| fail(&e))?;
    let consumer = stream
        .create_consumer(pull::Config {
            filter_subject: format!("$O.{}.C.{}", info.bucket, info.nuid),
            ack_policy: AckPolicy::None,
            deliver_policy: DeliverPolicy::All,
            inactive_threshold: std::time::Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .map_err(|e| fail(&e))?;
    let name = consumer.cached_info().name.clone();
    let copied = pull_chunks(&consumer, info, staged, hash)
        .await
        .map_err(|e| fail(&e));
    // Not left to expire: a stream's consumers are capped.
    let _ = stream.delete_consumer(&name).await;
    copied
}

type PullConsumer =
    async_nats::jetstream::consumer::Consumer<async_nats::jetstream::consumer::pull::Config>;

/// Pulls every chunk of `info` from `consumer` into `staged`, one write per pull.
async fn pull_chunks(
    consumer: &PullConsumer,
    info: &async_nats::jetstream::object_store::ObjectInfo,
    mut staged: Staged,
    hash: &mut Sha256,
) -> Result<Staged, String> {
    use futures::StreamExt;
    let mut received = 0usize;
    while received < info.chunks {
        let mut batch = consumer
            .batch()
            .max_messages(CHUNKS_PER_PULL.min(info.chunks - received))
            .expires(std::time::Duration::from_secs(10))
            .messages()
            .await
            .map_err(|e| e.to_string())?;
        let mut chunks = Vec::with_capacity(CHUNKS_PER_PULL);
        while let Some(msg) = batch.next().await {
            let msg = msg.map_err(|e| e.to_string())?;
            hash.update(&msg.payload);
            // A reference-counted handle, not a copy of the chunk.
            chunks.push(msg.payload.clone());
            received += 1;
        }
        if chunks.is_empty() {
            return Err("no chunk arrived within 10s".to_owned());
        }
        staged = write_staged(staged, chunks)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(staged)
}

impl Handle for FileDeploy {
    async fn run(ctx: &ExecContext, data: DeployRequest) -> Result<Done<DeployPayload>, OpError> {
        deploy(ctx, data).await
    }
}

impl Handle for FileUndeploy {
    async fn run(ctx: &ExecContext, data: UndeployRequest) -> Result<Done<Changed>, OpError> {
        let changed = undeploy(ctx, data).await?;
        Ok(Done::new(Changed {}, changed))
    }
}

impl Handle for FileStatus {
    async fn run(ctx: &ExecContext, data: StatusRequest) -> Result<Done<StatusPayload>, OpError> {
        Ok(Done::read(status(ctx, data).await?))
    }
}

async fn deploy(ctx: &ExecContext, data: DeployRequest) -> Result<Done<DeployPayload>, OpError> {
    check_object_name(&data.object_name)?;
    check_path(&data.path)?;
    let (objects, states, js) = ctx
        .files
        .as_ref()
        .ok_or("file storage is not configured on this agent")?;
    let path = PathBuf::from(&data.path);
    let dir = path.parent().ok_or("path has no directory")?.to_owned();
    let checked = dir.clone();
    if !on_files(ctx, move |f| f.is_dir(&checked)).await? {
        return Err(OpError::field(
            "path",
            format!("directory {} does not exist", dir.display()),
        ));
    }
    let (uid, gid) = uid_gid(ctx, &data.owner, &data.group).await?;
    let info = objects
        .info(&data.object_name)
        .await
        .map_err(|e| format!("object {:?}: {e}", data.object_name))?;
    let object_sha = info
        .metadata
        .get("osapi-sha256")
        .cloned()
        .unwrap_or_default();
    let target = path.clone();
    let mut staged = on_files(ctx, move |f| f.stage(&target))
        .await?
        .map_err(|e| e.to_string())?;
    let mut hash = Sha256::new();
    let io = |e: std::io::Error| format!("writing {}: {e}", data.path);
    if data.content_type == "template" {
        let (raw, _) = read_whole(objects, &data.object_name).await?;
        let text = String::from_utf8(raw).map_err(|_| "template is not UTF-8".to_string())?;
        let rendered = render(ctx, &text, &data.vars)?;
        hash.update(rendered.as_bytes());
        staged = write_staged(staged, vec![rendered.into()])
            .await
            .map_err(io)?;
    } else {
        staged = copy_chunks(js, &info, staged, &mut hash).await?;
    }
    let sha = format!("{:x}", hash.finalize());
    if data.content_type != "template" && !object_sha.is_empty() && sha != object_sha {
        return Err(format!(
            "object {:?} arrived corrupted (sha256 {sha}, expected {object_sha})",
            data.object_name
        )
        .into());
    }

    // One trip off the async workers: flush the new content, read what is there now.
    let current = path.clone();
    let (staged, synced, existing, on_disk) = on_files(ctx, move |f| {
        let synced = staged.sync();
        (staged, synced, f.metadata(&current), f.sha256(&current))
    })
    .await?;
    synced.map_err(io)?;
    let mode = match &data.mode {
        Some(m) => parse_mode(m)?,
        None => existing.map_or(DEFAULT_MODE, |m| m.mode),
    };
    let same_content = on_disk.map_err(|e| e.to_string())? == Some(sha.clone());
    let same_mode = existing.is_some_and(|m| m.mode == mode);
    let same_owner =
        existing.is_some_and(|m| uid.is_none_or(|u| u == m.uid) && gid.is_none_or(|g| g == m.gid));
    let changed = !(same_content && same_mode && same_owner);
    let target = path.clone();
    on_files(ctx, move |f| {
        if changed {
            f.install(staged, &target, Wanted { mode, uid, gid })
        } else {
            // Dropping the staged file removes it; done here, since that is a syscall too.
            drop(staged);
            Ok(())
        }
    })
    .await?
    .map_err(|e| e.to_string())?;
    let state = FileState {
        object_name: data.object_name.clone(),
        object_sha256: object_sha,
        path: data.path.clone(),
        sha256: sha.clone(),
        hostname: ctx.hostname.clone(),
        deployed_at: rfc3339(time::OffsetDateTime::now_utc()),
        content_type: data.content_type.clone(),
        undeployed_at: None,
    };
    let body = serde_json::to_vec(&state).map_err(|e| e.to_string())?;
    states
        .put(state_key(&ctx.hostname, &data.path), body.into())
        .await
        .map_err(|e| format!("file written but its state was not recorded: {e}"))?;
    Ok(Done {
        payload: DeployPayload {
            path: data.path,
            sha256: sha,
        },
        changed,
    })
}

/// Removes a file osapi deployed and marks its record undeployed. A path not on disk is
/// `false`; a file osapi did not deploy (or undeployed before) is refused, naming `path`:
/// undeploy must never become a way to delete arbitrary files.
async fn undeploy(ctx: &ExecContext, data: UndeployRequest) -> Result<bool, OpError> {
    check_path(&data.path)?;
    let (_, states, _) = ctx
        .files
        .as_ref()
        .ok_or("file storage is not configured on this agent")?;
    let key = state_key(&ctx.hostname, &data.path);
    let path = PathBuf::from(&data.path);
    let checked = path.clone();
    if on_files(ctx, move |f| f.metadata(&checked))
        .await?
        .is_none()
    {
        return Ok(false);
    }
    let recorded = states
        .get(&key)
        .await
        .map_err(|e| format!("reading the file state: {e}"))?
        .and_then(|b| serde_json::from_slice::<FileState>(&b).ok())
        .filter(|s| s.undeployed_at.is_none());
    let Some(mut state) = recorded else {
        return Err(OpError::field(
            "path",
            format!("{} was not deployed by osapi", data.path),
        ));
    };
    let removed = on_files(ctx, move |f| f.remove(&path))
        .await?
        .map_err(|e| e.to_string())?;
    state.undeployed_at = Some(rfc3339(time::OffsetDateTime::now_utc()));
    let body = serde_json::to_vec(&state).map_err(|e| e.to_string())?;
    states
        .put(key, body.into())
        .await
        .map_err(|e| format!("file removed but its state was not recorded: {e}"))?;
    Ok(removed)
}

async fn status(ctx: &ExecContext, data: StatusRequest) -> Result<StatusPayload, String> {
    check_path(&data.path)?;
    let (_, states, _) = ctx
        .files
        .as_ref()
        .ok_or("file storage is not configured on this agent")?;
    let recorded: Option<FileState> = states
        .get(state_key(&ctx.hostname, &data.path))
        .await
        .map_err(|e| e.to_string())?
        .and_then(|b| serde_json::from_slice(&b).ok());
    let path = PathBuf::from(&data.path);
    let on_disk = on_files(ctx, move |f| f.sha256(&path))
        .await?
        .map_err(|e| e.to_string())?;
    let status = match (&recorded, &on_disk) {
        (None, _) | (_, None) => "missing",
        (Some(r), Some(now)) if &r.sha256 == now => "in-sync",
        _ => "drifted",
    };
    Ok(StatusPayload {
        path: data.path,
        status: status.into(),
        sha256: on_disk,
    })
}
