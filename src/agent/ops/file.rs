//! `file.deploy.execute` and `file.status.get`: objects written atomically with mode and
//! ownership, templates rendered with MiniJinja, state kept in the file-state bucket.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{Done, Handle};
use crate::agent::processor::{ExecContext, OpError};
use crate::job::record::rfc3339;
use crate::job::target::sanitize_hostname;
use crate::wire::ops::file::{
    check_object_name, check_path, parse_mode, DeployPayload, DeployRequest, FileDeploy, FileState,
    FileStatus, StatusPayload, StatusRequest,
};

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

/// SHA-256 of a file's content, `None` if it does not exist.
async fn file_sha(path: &Path) -> Result<Option<String>, String> {
    let mut f = match tokio::fs::File::open(path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f
            .read(&mut buf)
            .await
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
    }
    Ok(Some(format!("{:x}", hash.finalize())))
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

fn uid_gid(
    owner: &Option<String>,
    group: &Option<String>,
) -> Result<(Option<nix::unistd::Uid>, Option<nix::unistd::Gid>), OpError> {
    use nix::unistd::{Gid, Group, Uid, User};
    let uid = match owner {
        None => None,
        Some(o) => Some(match o.parse::<u32>() {
            Ok(n) => Uid::from_raw(n),
            Err(_) => {
                User::from_name(o)
                    .ok()
                    .flatten()
                    .ok_or_else(|| OpError::field("owner", format!("unknown owner {o:?}")))?
                    .uid
            }
        }),
    };
    let gid = match group {
        None => None,
        Some(g) => Some(match g.parse::<u32>() {
            Ok(n) => Gid::from_raw(n),
            Err(_) => {
                Group::from_name(g)
                    .ok()
                    .flatten()
                    .ok_or_else(|| OpError::field("group", format!("unknown group {g:?}")))?
                    .gid
            }
        }),
    };
    Ok((uid, gid))
}

/// Chunks pulled per request: bounds what is in memory to about 1 MiB however large the
/// object, where the object store's push reader can run far ahead of a slow disk.
const CHUNKS_PER_PULL: usize = 8;

/// Streams an object's chunks into `out`, pulling a few at a time.
async fn copy_chunks(
    js: &async_nats::jetstream::Context,
    info: &async_nats::jetstream::object_store::ObjectInfo,
    out: &mut tokio::fs::File,
    hash: &mut Sha256,
) -> Result<(), String> {
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
    let copied = pull_chunks(&consumer, info, out, hash)
        .await
        .map_err(|e| fail(&e));
    // Not left to expire: a stream's consumers are capped.
    let _ = stream.delete_consumer(&name).await;
    copied
}

type PullConsumer =
    async_nats::jetstream::consumer::Consumer<async_nats::jetstream::consumer::pull::Config>;

/// Pulls every chunk of `info` from `consumer` into `out`.
async fn pull_chunks(
    consumer: &PullConsumer,
    info: &async_nats::jetstream::object_store::ObjectInfo,
    out: &mut tokio::fs::File,
    hash: &mut Sha256,
) -> Result<(), String> {
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
        let before = received;
        while let Some(msg) = batch.next().await {
            let msg = msg.map_err(|e| e.to_string())?;
            hash.update(&msg.payload);
            out.write_all(&msg.payload)
                .await
                .map_err(|e| e.to_string())?;
            received += 1;
        }
        if received == before {
            return Err("no chunk arrived within 10s".to_owned());
        }
    }
    Ok(())
}

impl Handle for FileDeploy {
    async fn run(ctx: &ExecContext, data: DeployRequest) -> Result<Done<DeployPayload>, OpError> {
        deploy(ctx, data).await
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
    let path = Path::new(&data.path);
    let dir = path.parent().ok_or("path has no directory")?;
    if !dir.is_dir() {
        return Err(OpError::field(
            "path",
            format!("directory {} does not exist", dir.display()),
        ));
    }
    let (uid, gid) = uid_gid(&data.owner, &data.group)?;
    let info = objects
        .info(&data.object_name)
        .await
        .map_err(|e| format!("object {:?}: {e}", data.object_name))?;
    let object_sha = info
        .metadata
        .get("osapi-sha256")
        .cloned()
        .unwrap_or_default();
    // Written next to the target so the final rename is atomic.
    let tmp = tempfile::Builder::new()
        .prefix(".osapi-deploy-")
        .tempfile_in(dir)
        .map_err(|e| {
            crate::provider::ProviderError::from_io(&dir.display().to_string(), e).to_string()
        })?;
    let (file, tmp_path) = tmp.into_parts();
    let mut out = tokio::fs::File::from_std(file);
    let mut hash = Sha256::new();
    let io = |e: std::io::Error| format!("writing {}: {e}", data.path);
    if data.content_type == "template" {
        let mut object = objects
            .get(&data.object_name)
            .await
            .map_err(|e| format!("object {:?}: {e}", data.object_name))?;
        let mut raw = Vec::new();
        (&mut object)
            .take(MAX_TEMPLATE as u64 + 1)
            .read_to_end(&mut raw)
            .await
            .map_err(io)?;
        if raw.len() > MAX_TEMPLATE {
            return Err(format!("templates are limited to {MAX_TEMPLATE} bytes").into());
        }
        let text = String::from_utf8(raw).map_err(|_| "template is not UTF-8".to_string())?;
        let rendered = render(ctx, &text, &data.vars)?;
        hash.update(rendered.as_bytes());
        out.write_all(rendered.as_bytes()).await.map_err(io)?;
    } else {
        copy_chunks(js, &info, &mut out, &mut hash).await?;
    }
    out.sync_all().await.map_err(io)?;
    drop(out);
    let sha = format!("{:x}", hash.finalize());
    if data.content_type != "template" && !object_sha.is_empty() && sha != object_sha {
        return Err(format!(
            "object {:?} arrived corrupted (sha256 {sha}, expected {object_sha})",
            data.object_name
        )
        .into());
    }

    let existing_meta = std::fs::metadata(path).ok();
    let mode = match &data.mode {
        Some(m) => parse_mode(m)?,
        None => existing_meta
            .as_ref()
            .map_or(DEFAULT_MODE, |m| m.permissions().mode() & 0o7777),
    };
    let same_content = file_sha(path).await? == Some(sha.clone());
    let same_mode = existing_meta
        .as_ref()
        .is_some_and(|m| m.permissions().mode() & 0o7777 == mode);
    let same_owner = existing_meta.as_ref().is_some_and(|m| {
        use std::os::unix::fs::MetadataExt;
        uid.is_none_or(|u| u.as_raw() == m.uid()) && gid.is_none_or(|g| g.as_raw() == m.gid())
    });
    let changed = !(same_content && same_mode && same_owner);
    if changed {
        std::fs::set_permissions(&tmp_path, std::fs::Permissions::from_mode(mode)).map_err(io)?;
        if uid.is_some() || gid.is_some() {
            nix::unistd::chown(tmp_path.as_os_str(), uid, gid)
                .map_err(|e| format!("cannot set owner/group of {}: {e}", data.path))?;
        }
        tmp_path.persist(path).map_err(|e| io(e.error))?;
    }
    let state = FileState {
        object_name: data.object_name.clone(),
        object_sha256: object_sha,
        path: data.path.clone(),
        sha256: sha.clone(),
        hostname: ctx.hostname.clone(),
        deployed_at: rfc3339(time::OffsetDateTime::now_utc()),
        content_type: data.content_type.clone(),
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
    let on_disk = file_sha(Path::new(&data.path)).await?;
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
