//! Idempotent creation of every NATS resource osapi uses, with names and limits from config.

use std::collections::HashMap;

use async_nats::jetstream::{self, kv, stream};

use super::NatsError;
use crate::config::{BucketConfig, Config, DiscardKind, StorageKind};
use crate::job::Subjects;

/// Namespaced names of streams and buckets: `<ns>-<name>`.
#[derive(Debug, Clone)]
pub struct Names {
    namespace: String,
}

impl Names {
    pub fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
        }
    }

    /// `name` under the namespace (`osapi-JOBS`).
    pub fn infra(&self, name: &str) -> String {
        if self.namespace.is_empty() {
            name.to_owned()
        } else {
            format!("{}-{name}", self.namespace)
        }
    }

    /// Subjects under the namespace.
    pub fn subjects(&self) -> Subjects {
        Subjects::new(&self.namespace)
    }
}

/// Handles to the resources of the job pipeline.
#[derive(Clone)]
pub struct Resources {
    pub js: jetstream::Context,
    pub names: Names,
    pub jobs_stream: String,
    pub jobs: kv::Store,
    pub responses: kv::Store,
    pub registry: kv::Store,
    /// Agent facts (`facts.<host>`).
    pub facts: kv::Store,
    /// Drain flags (`drain.<host>`) and agent timelines.
    pub state: kv::Store,
    /// The audit log; `None` when `nats.audit.bucket` is empty.
    pub audit: Option<kv::Store>,
    /// Uploaded files; `None` when `nats.objects.bucket` is empty.
    pub objects: Option<jetstream::object_store::ObjectStore>,
    /// The object store's stream and its metadata prefix (`$O.<bucket>.M.`), for listings
    /// that must not leave a consumer behind.
    pub objects_meta: Option<(jetstream::stream::Stream, String)>,
    /// What each agent deployed where.
    pub file_state: Option<kv::Store>,
}

fn storage(kind: StorageKind) -> stream::StorageType {
    match kind {
        StorageKind::File => stream::StorageType::File,
        StorageKind::Memory => stream::StorageType::Memory,
    }
}

impl Resources {
    /// Creates (or re-configures to the configured values) the JOBS and DLQ streams and the
    /// job, response and registry buckets. Safe to call from every process at start-up.
    pub async fn ensure(
        client: &async_nats::Client,
        config: &Config,
        namespace: &str,
    ) -> Result<Self, NatsError> {
        let (js, names) = handles(client, namespace);
        let jobs_stream = ensure_jobs_stream(&js, config, &names).await?;
        ensure_dlq_stream(&js, config, &jobs_stream).await?;
        let kv_cfg = &config.nats.kv;
        let job_bucket = BucketConfig {
            bucket: kv_cfg.bucket.clone(),
            ttl: kv_cfg.ttl,
            max_bytes: kv_cfg.max_bytes,
            storage: kv_cfg.storage,
            replicas: kv_cfg.replicas,
        };
        let response_bucket = BucketConfig {
            bucket: kv_cfg.response_bucket.clone(),
            ..job_bucket.clone()
        };
        let jobs = ensure_bucket(&js, &names, &job_bucket).await?;
        let responses = ensure_bucket(&js, &names, &response_bucket).await?;
        let registry = ensure_registry(&js, &names, &config.nats.registry).await?;
        let facts = ensure_bucket(&js, &names, &config.nats.facts).await?;
        let state = ensure_bucket(&js, &names, &config.nats.state).await?;
        let audit = if config.nats.audit.bucket.is_empty() {
            None
        } else {
            Some(ensure_bucket(&js, &names, &config.nats.audit.kv()).await?)
        };
        let objects = if config.nats.objects.bucket.is_empty() {
            None
        } else {
            match ensure_object_store(&js, &names, &config.nats.objects).await {
                Ok(store) => Some(store),
                // As the original: without room for the store, run without file routes
                // rather than not at all.
                Err(ObjectStoreError::NoRoom(message)) => {
                    tracing::warn!(
                        "file storage disabled: {message}; JetStream cannot reserve \
                         nats.objects.max_bytes ({} bytes) on this server's disk: lower it or \
                         free disk space",
                        config.nats.objects.max_bytes
                    );
                    None
                }
                Err(ObjectStoreError::Other(e)) => return Err(e),
            }
        };
        let objects_meta = objects_meta(&js, &names, config, objects.is_some()).await?;
        let file_state = if config.nats.file_state.bucket.is_empty() {
            None
        } else {
            Some(ensure_bucket(&js, &names, &config.nats.file_state).await?)
        };
        Ok(Self {
            js,
            names,
            jobs_stream,
            jobs,
            responses,
            registry,
            facts,
            state,
            audit,
            objects,
            objects_meta,
            file_state,
        })
    }

    /// Opens what an agent uses, creating and changing nothing (no audit log: agents do not
    /// write one). An agent's NATS user may not create streams; this fails when one is
    /// missing, so that an agent with full rights can create them instead. A missing object
    /// store only disables files, as when the controller had no room to create it.
    pub async fn open_for_agent(
        client: &async_nats::Client,
        config: &Config,
        namespace: &str,
    ) -> Result<Self, NatsError> {
        let (js, names) = handles(client, namespace);
        let jobs_stream = names.infra(&config.nats.stream.name);
        js.get_stream(&jobs_stream)
            .await
            .map_err(|e| NatsError::resource(&jobs_stream, e))?;
        let open = |bucket: &str| {
            let (js, name) = (js.clone(), names.infra(bucket));
            async move {
                js.get_key_value(&name)
                    .await
                    .map_err(|e| NatsError::resource(&name, e))
            }
        };
        let n = &config.nats;
        let objects = match n.objects.bucket.as_str() {
            "" => None,
            bucket => js.get_object_store(names.infra(bucket)).await.ok(),
        };
        let file_state = match n.file_state.bucket.as_str() {
            "" => None,
            bucket => Some(open(bucket).await?),
        };
        Ok(Self {
            jobs: open(&n.kv.bucket).await?,
            responses: open(&n.kv.response_bucket).await?,
            registry: open(&n.registry.bucket).await?,
            facts: open(&n.facts.bucket).await?,
            state: open(&n.state.bucket).await?,
            audit: None,
            objects_meta: objects_meta(&js, &names, config, objects.is_some()).await?,
            objects,
            file_state,
            js,
            names,
            jobs_stream,
        })
    }
}

fn handles(client: &async_nats::Client, namespace: &str) -> (jetstream::Context, Names) {
    (jetstream::new(client.clone()), Names::new(namespace))
}

/// The object store's stream and metadata prefix, when the store is open.
async fn objects_meta(
    js: &jetstream::Context,
    names: &Names,
    config: &Config,
    open: bool,
) -> Result<Option<(jetstream::stream::Stream, String)>, NatsError> {
    if !open {
        return Ok(None);
    }
    let bucket = names.infra(&config.nats.objects.bucket);
    let stream = js
        .get_stream(format!("OBJ_{bucket}"))
        .await
        .map_err(|e| NatsError::resource(&bucket, e))?;
    Ok(Some((stream, format!("$O.{bucket}.M."))))
}

async fn ensure_jobs_stream(
    js: &jetstream::Context,
    config: &Config,
    names: &Names,
) -> Result<String, NatsError> {
    let s = &config.nats.stream;
    let name = names.infra(&s.name);
    let subjects = Subjects::new(&names.namespace);
    let filter = if s.subjects == "jobs.>" {
        subjects.stream_filter()
    } else if names.namespace.is_empty() {
        s.subjects.clone()
    } else {
        format!("{}.{}", names.namespace, s.subjects)
    };
    let cfg = stream::Config {
        name: name.clone(),
        subjects: vec![filter],
        max_age: s.max_age,
        max_messages: s.max_msgs,
        storage: storage(s.storage),
        num_replicas: s.replicas,
        discard: match s.discard {
            DiscardKind::Old => stream::DiscardPolicy::Old,
            DiscardKind::New => stream::DiscardPolicy::New,
        },
        max_consumers: s.max_consumers,
        ..Default::default()
    };
    create_or_update_keeping_max_consumers(js, cfg).await?;
    Ok(name)
}

/// Creates or updates the stream; a server before 2.12 refuses to change an existing
/// stream's consumer limit, so there the stream keeps its own (with a warning) and every
/// other setting is still applied.
async fn create_or_update_keeping_max_consumers(
    js: &jetstream::Context,
    mut cfg: stream::Config,
) -> Result<(), NatsError> {
    let name = cfg.name.clone();
    let refused = match js.create_or_update_stream(cfg.clone()).await {
        Ok(_) => return Ok(()),
        Err(e) if e.to_string().contains("MaxConsumers") => e,
        Err(e) => return Err(NatsError::resource(&name, e)),
    };
    let mut existing = js
        .get_stream(&name)
        .await
        .map_err(|e| NatsError::resource(&name, e))?;
    let kept = existing
        .info()
        .await
        .map_err(|e| NatsError::resource(&name, e))?
        .config
        .max_consumers;
    tracing::warn!(
        stream = %name, kept, wanted = cfg.max_consumers, error = %refused,
        "this nats-server cannot change a stream's consumer limit; keeping the stream's own"
    );
    cfg.max_consumers = kept;
    js.create_or_update_stream(cfg)
        .await
        .map_err(|e| NatsError::resource(&name, e))?;
    Ok(())
}

/// The dead-letter stream captures the server's max-deliveries advisories for JOBS.
async fn ensure_dlq_stream(
    js: &jetstream::Context,
    config: &Config,
    jobs_stream: &str,
) -> Result<(), NatsError> {
    let d = &config.nats.dlq;
    let name = crate::controller::dlq::stream_name(jobs_stream);
    let cfg = stream::Config {
        name: name.clone(),
        subjects: vec![format!(
            "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{jobs_stream}.*"
        )],
        max_age: d.max_age,
        max_messages: d.max_msgs,
        storage: storage(d.storage),
        num_replicas: d.replicas,
        metadata: HashMap::from([("dead_letter_queue".to_owned(), "true".to_owned())]),
        ..Default::default()
    };
    js.create_or_update_stream(cfg)
        .await
        .map_err(|e| NatsError::resource(&name, e))?;
    Ok(())
}

/// The registry bucket with limit markers: an entry that expires leaves a marker, so a
/// watcher sees a dead component (a Purge) instead of silence.
async fn ensure_registry(
    js: &jetstream::Context,
    names: &Names,
    bucket: &BucketConfig,
) -> Result<kv::Store, NatsError> {
    let mut cfg = bucket_config(names, bucket);
    if !bucket.ttl.is_zero() {
        cfg.limit_markers = Some(bucket.ttl.max(std::time::Duration::from_secs(1)));
    }
    js.create_or_update_key_value(cfg)
        .await
        .map_err(|e| NatsError::resource(&names.infra(&bucket.bucket), e))
}

/// Why the object store could not be opened.
enum ObjectStoreError {
    /// JetStream has no room for the configured `max_bytes` (error 10047).
    NoRoom(String),
    Other(NatsError),
}

/// Opens the object store, creating it with the configured limits the first time. A
/// creation that loses a race with another process (both reserve `max_bytes`, the second
/// may not fit) finds the winner's store.
async fn ensure_object_store(
    js: &jetstream::Context,
    names: &Names,
    bucket: &BucketConfig,
) -> Result<jetstream::object_store::ObjectStore, ObjectStoreError> {
    let name = names.infra(&bucket.bucket);
    if let Ok(store) = js.get_object_store(&name).await {
        return Ok(store);
    }
    let created = js
        .create_object_store(jetstream::object_store::Config {
            bucket: name.clone(),
            max_bytes: if bucket.max_bytes > 0 {
                bucket.max_bytes
            } else {
                -1
            },
            max_age: bucket.ttl,
            storage: storage(bucket.storage),
            num_replicas: bucket.replicas.max(1),
            ..Default::default()
        })
        .await;
    match created {
        Ok(store) => Ok(store),
        Err(e) => {
            if let Ok(store) = js.get_object_store(&name).await {
                return Ok(store);
            }
            let text = e.to_string();
            if text.contains("10047") || text.contains("insufficient storage") {
                Err(ObjectStoreError::NoRoom(text))
            } else {
                Err(ObjectStoreError::Other(NatsError::resource(&name, e)))
            }
        }
    }
}

/// Creates or re-configures a KV bucket; TTL, size, storage and replicas all applied.
pub async fn ensure_bucket(
    js: &jetstream::Context,
    names: &Names,
    bucket: &BucketConfig,
) -> Result<kv::Store, NatsError> {
    js.create_or_update_key_value(bucket_config(names, bucket))
        .await
        .map_err(|e| NatsError::resource(&names.infra(&bucket.bucket), e))
}

fn bucket_config(names: &Names, bucket: &BucketConfig) -> kv::Config {
    kv::Config {
        bucket: names.infra(&bucket.bucket),
        history: 1,
        max_age: bucket.ttl,
        max_bytes: if bucket.max_bytes > 0 {
            bucket.max_bytes
        } else {
            -1
        },
        storage: storage(bucket.storage),
        num_replicas: bucket.replicas.max(1),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::Names;

    #[test]
    fn namespaced_names() {
        assert_eq!(Names::new("osapi").infra("JOBS"), "osapi-JOBS");
        assert_eq!(Names::new("").infra("job-queue"), "job-queue");
    }
}
