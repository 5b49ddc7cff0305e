//! `GET /health/status`: the controller, NATS, agents, jobs and every registered
//! component with its sub-components and active conditions, in the original's shape.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use futures::StreamExt;
use serde::Deserialize;

use crate::conditions::ProcessSample;
use crate::controller::state::AppState;
use crate::job::store;
use crate::registry::SubComponent;
use crate::wire::health::*;

/// Any registry entry (agent, controller or NATS).
#[derive(Debug, Deserialize)]
struct AnyBeat {
    #[serde(default)]
    hostname: String,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    started_at: String,
    #[serde(default)]
    registered_at: String,
    #[serde(default)]
    process: Option<ProcessSample>,
    #[serde(default)]
    conditions: Vec<crate::conditions::Condition>,
    #[serde(default)]
    sub_components: BTreeMap<String, SubComponent>,
}

fn ok() -> ComponentHealth {
    ComponentHealth {
        status: "ok".into(),
        error: None,
        address: None,
    }
}

fn failed(e: impl ToString) -> ComponentHealth {
    ComponentHealth {
        status: "error".into(),
        error: Some(e.to_string()),
        address: None,
    }
}

fn sub_health(sub: &SubComponent) -> ComponentHealth {
    ComponentHealth {
        status: sub.status.clone(),
        error: None,
        address: (!sub.address.is_empty()).then(|| sub.address.clone()),
    }
}

/// Everything at once; 503 with the same body when NATS or the job bucket fails.
#[utoipa::path(get, path = "/health/status", tag = "health",
    responses((status = 200, body = StatusResponse), (status = 503, body = StatusResponse)),
    security(("BearerAuth" = ["health:read"])))]
pub async fn status(State(state): State<AppState>) -> (StatusCode, Json<StatusResponse>) {
    let mut resp = StatusResponse {
        status: "ok".into(),
        version: crate::VERSION.into(),
        uptime: crate::wire::ops::go_duration(Duration::from_secs(
            state.started.elapsed().as_secs(),
        )),
        components: BTreeMap::from([("controller.api".to_owned(), ok())]),
        ..Default::default()
    };
    match state.backend() {
        Ok(backend) => {
            let info = backend.client.server_info();
            resp.nats = Some(NatsInfo {
                url: state.config.controller.nats.server_urls().join(","),
                version: info.version.clone(),
                server_name: info.server_name.clone(),
            });
            resp.components.insert(NATS_CHECK.into(), ok());
            let kv =
                tokio::time::timeout(Duration::from_secs(2), backend.resources.jobs.status()).await;
            let kv_health = match kv {
                Ok(Ok(_)) => ok(),
                Ok(Err(e)) => failed(e),
                Err(_) => failed("job bucket did not answer within 2s"),
            };
            resp.components.insert(KV_CHECK.into(), kv_health);
            fill(&mut resp, backend).await;
        }
        Err(e) => {
            resp.components.insert(NATS_CHECK.into(), failed(e));
        }
    }
    let degraded = [NATS_CHECK, KV_CHECK]
        .iter()
        .any(|k| resp.components.get(*k).is_none_or(|c| c.status == "error"));
    if degraded {
        resp.status = "degraded".into();
        return (StatusCode::SERVICE_UNAVAILABLE, Json(resp));
    }
    (StatusCode::OK, Json(resp))
}

/// Registry, jobs, streams, buckets and consumers; a part that fails is left out.
async fn fill(resp: &mut StatusResponse, backend: &crate::controller::state::Backend) {
    let res = &backend.resources;
    let (registry, jobs, stores, consumers) = tokio::join!(
        registry_part(res, &mut resp.components),
        jobs_part(res, backend.jobs.feed().index()),
        stores_part(res),
        consumers_part(res),
    );
    if let Some((entries, agents)) = registry {
        resp.registry = Some(entries);
        resp.agents = Some(agents);
    }
    resp.jobs = jobs;
    if let Some((streams, buckets, objects)) = stores {
        if let Some(jobs) = resp.jobs.as_mut() {
            let dlq = crate::controller::dlq::stream_name(&res.jobs_stream);
            jobs.dlq = streams
                .iter()
                .find(|s| s.name == dlq)
                .map_or(0, |s| s.messages);
        }
        resp.streams = Some(streams);
        resp.kv_buckets = Some(buckets);
        resp.object_stores = Some(objects);
    }
    resp.consumers = consumers;
}

async fn registry_part(
    res: &crate::nats::resources::Resources,
    components: &mut BTreeMap<String, ComponentHealth>,
) -> Option<(Vec<RegistryEntry>, AgentCounts)> {
    let entries = crate::nats::kv_scan::scan(&res.registry, ">", true)
        .await
        .ok()?;
    let mut registry = Vec::new();
    let mut agents = AgentCounts::default();
    for (key, value) in entries {
        let Ok(beat) = serde_json::from_slice::<AnyBeat>(&value) else {
            continue;
        };
        let kind = match key.split_once('.').map(|(k, _)| k) {
            Some("agents") => "agent",
            Some(k) => k,
            None => continue,
        };
        let mut subs = BTreeMap::new();
        for (name, sub) in &beat.sub_components {
            let health = sub_health(sub);
            // Same name from several hosts: an error is never hidden by a later entry.
            if components.get(name).is_none_or(|c| c.status != "error") {
                components.insert(name.clone(), health.clone());
            }
            subs.insert(name.clone(), health);
        }
        let state = beat.state.clone().unwrap_or_default();
        if kind == "agent" {
            agents.total += 1;
            match state.as_str() {
                "Draining" => agents.draining += 1,
                "Drained" => agents.drained += 1,
                _ => agents.ready += 1,
            }
            agents.agents.push(AgentSummary {
                hostname: beat.hostname.clone(),
                labels: beat
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                registered: format!(
                    "{} ago",
                    match seconds_since(&beat.registered_at).map(format_age) {
                        Some(a) if !a.is_empty() => a,
                        _ => "0s".into(),
                    }
                ),
            });
        }
        registry.push(RegistryEntry {
            kind: kind.to_owned(),
            hostname: beat.hostname,
            status: "Ready".into(),
            conditions: beat
                .conditions
                .into_iter()
                .filter(|c| c.status)
                .map(|c| c.kind)
                .collect(),
            age: seconds_since(&beat.started_at)
                .map(format_age)
                .unwrap_or_default(),
            cpu_percent: beat.process.map(|p| p.cpu_percent),
            mem_bytes: beat.process.map(|p| p.rss_bytes),
            state,
            last_seen: beat.registered_at,
            sub_components: subs,
        });
    }
    registry.sort_by(|a, b| (&a.kind, &a.hostname).cmp(&(&b.kind, &b.hostname)));
    agents.agents.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    Some((registry, agents))
}

async fn jobs_part(
    res: &crate::nats::resources::Resources,
    index: &crate::job::index::JobIndex,
) -> Option<JobCounts> {
    let (total, counts) = store::totals(&res.jobs, index).await.ok()?;
    let n = |k: &str| counts.get(k).copied().unwrap_or(0);
    Some(JobCounts {
        total,
        unprocessed: n("submitted"),
        processing: n("processing"),
        completed: n("completed"),
        failed: n("failed"),
        dlq: 0,
        partial_failure: n("partial_failure"),
    })
}

/// The namespace's streams (JOBS and its DLQ), KV buckets and object stores.
async fn stores_part(
    res: &crate::nats::resources::Resources,
) -> Option<(Vec<StreamInfo>, Vec<KvBucketInfo>, Vec<ObjectStoreInfo>)> {
    let prefix = res.names.infra("");
    let (mut streams, mut buckets, mut objects) = (Vec::new(), Vec::new(), Vec::new());
    let mut names = res.js.stream_names();
    while let Some(name) = names.next().await {
        let name = name.ok()?;
        let Ok(mut stream) = res.js.get_stream(&name).await else {
            continue;
        };
        let Ok(info) = stream.info().await else {
            continue;
        };
        let st = &info.state;
        if let Some(bucket) = name.strip_prefix("KV_") {
            if bucket.starts_with(&prefix) {
                buckets.push(KvBucketInfo {
                    name: bucket.to_owned(),
                    keys: st.subjects_count,
                    bytes: st.bytes,
                });
            }
        } else if let Some(store) = name.strip_prefix("OBJ_") {
            if store.starts_with(&prefix) {
                objects.push(ObjectStoreInfo {
                    name: store.to_owned(),
                    size: st.bytes,
                });
            }
        } else if name.starts_with(&prefix) {
            streams.push(StreamInfo {
                name,
                messages: st.messages,
                bytes: st.bytes,
                consumers: st.consumer_count,
            });
        }
    }
    Some((streams, buckets, objects))
}

/// Consumers of the JOBS stream with their backlog.
async fn consumers_part(res: &crate::nats::resources::Resources) -> Option<ConsumerCounts> {
    let stream = res.js.get_stream(&res.jobs_stream).await.ok()?;
    let mut list = stream.consumers();
    let mut consumers = Vec::new();
    while let Some(info) = list.next().await {
        let info = info.ok()?;
        consumers.push(ConsumerInfo {
            name: info.name,
            pending: info.num_pending,
            ack_pending: info.num_ack_pending as u64,
            redelivered: info.num_redelivered as u64,
        });
    }
    consumers.sort_by(|a, b| a.name.cmp(&b.name));
    Some(ConsumerCounts {
        total: consumers.len(),
        consumers,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_like_the_original() {
        assert_eq!(format_age(3 * 86400 + 4 * 3600 + 59), "3d 4h");
        assert_eq!(format_age(12 * 3600 + 30 * 60 + 5), "12h 30m");
        assert_eq!(format_age(45 * 60 + 3), "45m");
        assert_eq!(format_age(30), "30s");
        assert_eq!(format_age(0), "");
    }

    #[test]
    fn optional_blocks_are_left_out_when_missing() {
        let v = serde_json::to_value(StatusResponse {
            status: "degraded".into(),
            ..Default::default()
        })
        .unwrap();
        for key in ["nats", "streams", "jobs", "agents", "consumers", "registry"] {
            assert!(v.get(key).is_none(), "{key}: {v}");
        }
        assert!(v["components"].is_object() && v["uptime"].is_string());
    }
}
