//! Human output: compact kubectl-style tables over API results.

use comfy_table::presets::NOTHING;
use comfy_table::{ContentArrangement, Table};
use serde_json::Value;

/// Widest a cell may be before it is cut with `…`.
const MAX_CELL: usize = 60;

/// A borderless table with upper-case headers.
pub fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(NOTHING)
        .set_content_arrangement(ContentArrangement::Disabled)
        .set_header(headers.iter().map(|h| h.to_uppercase()));
    for row in rows {
        t.add_row(row.into_iter().map(|c| cell(&c)));
    }
    t.to_string()
}

/// One line, cut to [`MAX_CELL`] characters.
fn cell(s: &str) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > MAX_CELL {
        let cut: String = flat.chars().take(MAX_CELL - 1).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `k:v, k:v` sorted by key, or `-`.
pub fn labels(v: &Value) -> String {
    match v.as_object() {
        Some(m) if !m.is_empty() => {
            let mut pairs: Vec<String> =
                m.iter().map(|(k, v)| format!("{k}:{}", text(v))).collect();
            pairs.sort();
            pairs.join(", ")
        }
        _ => "-".into(),
    }
}

/// 1024-based size.
pub fn bytes(v: &Value) -> String {
    let Some(n) = v.as_u64() else {
        return "-".into();
    };
    const UNITS: [(&str, f64); 3] = [("GB", 1073741824.0), ("MB", 1048576.0), ("KB", 1024.0)];
    for (unit, size) in UNITS {
        if n as f64 >= size {
            return format!("{:.1} {unit}", n as f64 / size);
        }
    }
    format!("{n} B")
}

fn list(v: &Value) -> String {
    match v.as_array() {
        Some(items) if !items.is_empty() => items.iter().map(text).collect::<Vec<_>>().join(", "),
        _ => "None".into(),
    }
}

/// `GET /job` as totals and a table.
pub fn job_list(body: &Value) -> String {
    let counts = &body["status_counts"];
    let count = |k: &str| counts[k].as_u64().unwrap_or(0);
    let mut out = format!(
        "\n  Total: {}  Submitted: {}  Processing: {}  Completed: {}  Failed: {}  Partial: {}\n\n",
        text(&body["total_items"]),
        count("submitted"),
        count("processing"),
        count("completed"),
        count("failed"),
        count("partial_failure"),
    );
    let rows = results_of(&body["items"])
        .iter()
        .map(|j| {
            vec![
                text(&j["id"]),
                text(&j["status"]),
                text(&j["created"]),
                text(&j["target"]),
                j["operation"]["type"]
                    .as_str()
                    .unwrap_or("Unknown")
                    .to_owned(),
            ]
        })
        .collect();
    out.push_str(&table(
        &["job id", "status", "created", "target", "operation"],
        rows,
    ));
    out
}

/// `GET /job/{id}`: summary, request, responses, agent states, timeline and result.
pub fn job_detail(body: &Value) -> String {
    let mut out = format!(
        "\n  Job ID: {}  Status: {}\n  Hostname: {}  Target: {}\n  Created: {}  Updated At: {}\n",
        text(&body["id"]),
        text(&body["status"]),
        text(&body["hostname"]),
        text(&body["target"]),
        text(&body["created"]),
        text(&body["updated_at"]),
    );
    if let Some(e) = body["error"].as_str() {
        out.push_str(&format!("  Error: {e}\n"));
    }
    if let Some(of) = body["retry_of"].as_str() {
        out.push_str(&format!("  Retry of: {of}\n"));
    }
    let states = body["agent_states"].as_object();
    if let Some(states) = states.filter(|s| s.len() > 1) {
        let n = |want: &[&str]| {
            states
                .values()
                .filter(|s| want.contains(&s["status"].as_str().unwrap_or("")))
                .count()
        };
        out.push_str(&format!(
            "  Agents: {} total ({} completed, {} failed, {} processing)\n",
            states.len(),
            n(&["completed"]),
            n(&["failed"]),
            n(&["acknowledged", "started"]),
        ));
    }
    out.push_str(&format!(
        "\n  Job Request:\n{}\n",
        indent(&serde_json::to_string_pretty(&body["operation"]).unwrap_or_default())
    ));
    let responses: Vec<Vec<String>> = body["responses"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(key, r)| {
            vec![
                r["hostname"].as_str().unwrap_or(key).to_owned(),
                text(&r["status"]),
                text(&r["data"]),
                text(&r["error"]),
            ]
        })
        .collect();
    out.push_str("\n  Agent Responses:\n");
    out.push_str(&table(&["hostname", "status", "data", "error"], responses));
    let state_rows: Vec<Vec<String>> = states
        .into_iter()
        .flatten()
        .map(|(host, s)| {
            vec![
                host.clone(),
                text(&s["status"]),
                text(&s["duration"]),
                text(&s["error"]),
            ]
        })
        .collect();
    out.push_str("\n\n  Agent States:\n");
    out.push_str(&table(
        &["hostname", "status", "duration", "error"],
        state_rows,
    ));
    let events = results_of(&body["timeline"])
        .iter()
        .map(|e| {
            vec![
                text(&e["timestamp"]),
                text(&e["event"]),
                text(&e["hostname"]),
                text(&e["message"]),
                text(&e["error"]),
            ]
        })
        .collect();
    out.push_str("\n\n  Timeline:\n");
    out.push_str(&table(
        &["timestamp", "event", "hostname", "message", "error"],
        events,
    ));
    if !body["result"].is_null() {
        out.push_str(&format!(
            "\n\n  Job Result:\n{}",
            indent(&serde_json::to_string_pretty(&body["result"]).unwrap_or_default())
        ));
    }
    out
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Time since an RFC 3339 timestamp, as `3d 4h` / `12h 30m` / `45m` / `30s`, or `-`.
fn age_since(v: &Value) -> String {
    v.as_str()
        .and_then(crate::wire::health::seconds_since)
        .map(crate::wire::health::format_age)
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "-".into())
}

/// Active condition types, comma-joined, or `-`.
fn active_conditions(v: &Value) -> String {
    let active: Vec<String> = results_of(v)
        .iter()
        .filter(|c| c["status"] == true)
        .map(|c| text(&c["type"]))
        .collect();
    if active.is_empty() {
        "-".into()
    } else {
        active.join(", ")
    }
}

fn os_text(a: &Value) -> String {
    match a.get("os_info") {
        Some(os) => format!("{} {}", text(&os["distribution"]), text(&os["version"])),
        None => "-".into(),
    }
}

/// `GET /agent` as a table.
pub fn agent_list(body: &Value) -> String {
    let agents = results_of(&body["agents"]);
    if agents.is_empty() {
        return "\n  No active agents found.".into();
    }
    let rows = agents
        .iter()
        .map(|a| {
            let state = a["state"]
                .as_str()
                .filter(|s| !s.is_empty())
                .unwrap_or("Ready");
            vec![
                text(&a["hostname"]),
                state.to_owned(),
                active_conditions(&a["conditions"]),
                labels(&a["labels"]),
                age_since(&a["started_at"]),
                text(&a["load_average"]["1min"]),
                os_text(a),
            ]
        })
        .collect();
    format!(
        "\n  Active Agents ({}):\n\n{}",
        text(&body["total"]),
        table(
            &[
                "hostname",
                "status",
                "conditions",
                "labels",
                "age",
                "load (1m)",
                "os"
            ],
            rows
        )
    )
}

/// `GET /agent/{hostname}`: identity, state and facts.
pub fn agent_detail(a: &Value) -> String {
    let state = a["state"]
        .as_str()
        .filter(|s| !s.is_empty())
        .unwrap_or("Ready");
    let l = &a["load_average"];
    let m = &a["memory"];
    let mut out = format!(
        "\n  Hostname: {}  Status: {}\n  State: {}\n  Labels: {}\n  OS: {}\n  Uptime: {}\n  Age: {}  Last Seen: {}  Version: {}\n",
        text(&a["hostname"]),
        text(&a["status"]),
        state,
        labels(&a["labels"]),
        os_text(a),
        text(&a["uptime"]),
        age_since(&a["started_at"]),
        age_since(&a["registered_at"]),
        text(&a["agent_version"]),
    );
    out.push_str(&format!(
        "  Arch: {}  Kernel: {}  CPUs: {}  FQDN: {}\n  Load: {}, {}, {}\n  Memory: {} used / {} total / {} free\n  Service Mgr: {}  Package Mgr: {}  Primary Iface: {}\n",
        text(&a["architecture"]),
        text(&a["kernel_version"]),
        text(&a["cpu_count"]),
        text(&a["fqdn"]),
        text(&l["1min"]),
        text(&l["5min"]),
        text(&l["15min"]),
        bytes(&m["used"]),
        bytes(&m["total"]),
        bytes(&m["free"]),
        text(&a["service_mgr"]),
        text(&a["package_mgr"]),
        text(&a["primary_interface"]),
    ));
    for i in results_of(&a["interfaces"]) {
        out.push_str(&format!(
            "  Interface {}: {} {} {}\n",
            text(&i["name"]),
            text(&i["ipv4"]),
            text(&i["ipv6"]),
            text(&i["mac"]),
        ));
    }
    let routes: Vec<Vec<String>> = results_of(&a["routes"])
        .iter()
        .map(|r| {
            vec![
                text(&r["destination"]),
                text(&r["gateway"]),
                text(&r["interface"]),
                text(&r["mask"]),
                text(&r["metric"]),
            ]
        })
        .collect();
    if !routes.is_empty() {
        out.push_str("\n  Routes:\n");
        out.push_str(&table(
            &["destination", "gateway", "interface", "mask", "metric"],
            routes,
        ));
        out.push('\n');
    }
    let conditions: Vec<Vec<String>> = results_of(&a["conditions"])
        .iter()
        .map(|c| {
            vec![
                text(&c["type"]),
                text(&c["status"]),
                text(&c["reason"]),
                age_since(&c["last_transition_time"]),
            ]
        })
        .collect();
    if !conditions.is_empty() {
        out.push_str("\n  Conditions:\n");
        out.push_str(&table(&["type", "status", "reason", "since"], conditions));
    }
    out
}

/// `GET /audit` as a table.
pub fn audit_list(body: &Value) -> String {
    let rows = results_of(&body["items"])
        .iter()
        .map(|e| {
            vec![
                text(&e["id"]),
                text(&e["timestamp"]),
                text(&e["user"]),
                text(&e["method"]),
                text(&e["path"]),
                text(&e["response_code"]),
                format!("{}ms", text(&e["duration_ms"])),
            ]
        })
        .collect();
    format!(
        "\n  Total: {}\n\n{}",
        text(&body["total_items"]),
        table(
            &[
                "id",
                "timestamp",
                "user",
                "method",
                "path",
                "status",
                "duration"
            ],
            rows
        )
    )
}

/// `GET /audit/{id}`: one entry.
pub fn audit_detail(e: &Value) -> String {
    let mut out = format!(
        "\n  ID: {}\n  Timestamp: {}\n  User: {}\n  Roles: {}\n  Request: {} {}\n  Status: {}  Duration: {}ms\n  Source IP: {}\n",
        text(&e["id"]),
        text(&e["timestamp"]),
        text(&e["user"]),
        list(&e["roles"]),
        text(&e["method"]),
        text(&e["path"]),
        text(&e["response_code"]),
        text(&e["duration_ms"]),
        text(&e["source_ip"]),
    );
    if let Some(op) = e["operation_id"].as_str() {
        out.push_str(&format!("  Operation: {op}\n"));
    }
    if let Some(t) = e["trace_id"].as_str() {
        out.push_str(&format!("  Trace ID: {t}\n"));
    }
    out
}

/// `GET /health/status`, all of it or the registry entries of one component type: the
/// component table with each entry's sub-components beneath it, then the NATS blocks.
pub fn health_status(body: &Value, only: Option<&str>) -> String {
    let mut out = String::new();
    if only.is_none() {
        out.push_str(&format!(
            "\n  Status: {}\n  Version: {}\n  Uptime: {}\n",
            text(&body["status"]),
            text(&body["version"]),
            text(&body["uptime"])
        ));
        let failing: Vec<String> = body["components"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, c)| c["status"] == "error")
            .map(|(k, c)| format!("{k}: {}", text(&c["error"])))
            .collect();
        for f in failing {
            out.push_str(&format!("  Error: {f}\n"));
        }
    }
    let mut rows: Vec<Vec<String>> = Vec::new();
    for e in results_of(&body["registry"])
        .iter()
        .filter(|e| only.is_none_or(|k| e["type"] == k))
    {
        let kind = text(&e["type"]);
        rows.push(vec![
            kind.clone(),
            text(&e["hostname"]),
            match e["state"].as_str() {
                Some(s) if !s.is_empty() && s != "Ready" => s.to_owned(),
                _ => text(&e["status"]),
            },
            list(&e["conditions"]).replace("None", "-"),
            match e["age"].as_str() {
                Some(a) if !a.is_empty() => a.to_owned(),
                _ => "-".into(),
            },
            e["cpu_percent"]
                .as_f64()
                .map_or("-".into(), |c| format!("{c:.1}%")),
            bytes(&e["mem_bytes"]),
        ]);
        // Every component named `<type>.`, this entry's own sub-components first.
        let mut subs: std::collections::BTreeMap<&String, &Value> = body["components"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.starts_with(&format!("{kind}.")))
            .collect();
        subs.extend(e["sub_components"].as_object().into_iter().flatten());
        let n = subs.len();
        for (i, (name, c)) in subs.into_iter().enumerate() {
            let branch = if i + 1 == n { "└─" } else { "├─" };
            let short = name.strip_prefix(&format!("{kind}.")).unwrap_or(name);
            let status = match c["address"].as_str() {
                Some(a) => format!("{} {a}", text(&c["status"])),
                None => text(&c["status"]),
            };
            rows.push(vec![
                String::new(),
                format!("{branch} {short}"),
                status,
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
    }
    if rows.is_empty() {
        out.push_str("\n  No components found.");
    } else {
        out.push('\n');
        out.push_str(&table(
            &[
                "type",
                "hostname",
                "status",
                "conditions",
                "age",
                "cpu",
                "mem",
            ],
            rows,
        ));
        out.push('\n');
    }
    if only.is_some() {
        return out;
    }
    let a = &body["agents"];
    if a.is_object() {
        out.push_str(&format!(
            "\n  Agents: {} total, {} ready, {} draining, {} drained\n",
            text(&a["total"]),
            text(&a["ready"]),
            text(&a["draining"]),
            text(&a["drained"])
        ));
    }
    let j = &body["jobs"];
    if j.is_object() {
        out.push_str(&format!(
            "  Jobs: {} total, {} completed, {} unprocessed, {} processing, {} failed, {} dlq\n",
            text(&j["total"]),
            text(&j["completed"]),
            text(&j["unprocessed"]),
            text(&j["processing"]),
            text(&j["failed"]),
            text(&j["dlq"])
        ));
    }
    for s in results_of(&body["streams"]) {
        out.push_str(&format!(
            "  Stream: {} ({} msgs, {}, {} consumers)\n",
            text(&s["name"]),
            text(&s["messages"]),
            bytes(&s["bytes"]),
            text(&s["consumers"])
        ));
    }
    for b in results_of(&body["kv_buckets"]) {
        out.push_str(&format!(
            "  Bucket: {} ({} keys, {})\n",
            text(&b["name"]),
            text(&b["keys"]),
            bytes(&b["bytes"])
        ));
    }
    for o in results_of(&body["object_stores"]) {
        out.push_str(&format!(
            "  Object Store: {} ({})\n",
            text(&o["name"]),
            bytes(&o["size"])
        ));
    }
    let c = &body["consumers"];
    if c.is_object() {
        out.push_str(&format!("  Consumers: {} total\n", text(&c["total"])));
        let rows: Vec<Vec<String>> = results_of(&c["consumers"])
            .iter()
            .map(|c| {
                vec![
                    text(&c["name"]),
                    text(&c["pending"]),
                    text(&c["ack_pending"]),
                    text(&c["redelivered"]),
                ]
            })
            .collect();
        if !rows.is_empty() {
            out.push('\n');
            out.push_str(&table(
                &["name", "pending", "ack pending", "redelivered"],
                rows,
            ));
        }
    }
    out
}

/// `GET /file` as a table.
pub fn file_list(body: &Value) -> String {
    let rows = results_of(&body["files"])
        .iter()
        .map(|f| {
            vec![
                text(&f["name"]),
                text(&f["content_type"]),
                bytes(&f["size"]),
                text(&f["sha256"]),
            ]
        })
        .collect();
    format!(
        "\n  Files ({}):\n\n{}",
        text(&body["total"]),
        table(&["name", "type", "size", "sha256"], rows)
    )
}

/// `GET /file/stale` as a table.
pub fn stale_list(body: &Value) -> String {
    let rows = results_of(&body["stale"])
        .iter()
        .map(|f| {
            vec![
                text(&f["hostname"]),
                text(&f["path"]),
                text(&f["object_name"]),
                text(&f["current_object_sha256"]),
            ]
        })
        .collect();
    format!(
        "\n  Stale ({}):\n\n{}",
        text(&body["total"]),
        table(&["hostname", "path", "object", "current sha256"], rows)
    )
}

fn results_of(v: &Value) -> &[Value] {
    v.as_array().map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn health_status_lists_components_with_their_sub_components() {
        let body = json!({
            "status": "ok", "version": "0.1.0", "uptime": "2h30m0s",
            "components": {
                "controller.nats (connectivity)": {"status": "ok"},
                "controller.api": {"status": "ok", "address": "http://0.0.0.0:8080"},
                "agent.heartbeat": {"status": "ok"}
            },
            "jobs": {"total": 3, "unprocessed": 1, "processing": 0, "completed": 2, "failed": 0, "dlq": 0},
            "registry": [
                {"type": "agent", "hostname": "web-01", "status": "Ready", "state": "Drained",
                 "conditions": ["HighLoad"], "age": "3d 4h", "cpu_percent": 1.3, "mem_bytes": 2048},
                {"type": "controller", "hostname": "ctl", "status": "Ready", "age": "45m"}
            ]
        });
        let all = health_status(&body, None);
        for want in [
            "Uptime: 2h30m0s",
            "nats (connectivity)",
            "└─ heartbeat",
            "Drained",
            "1.3%",
            "2.0 KB",
            "1 unprocessed",
        ] {
            assert!(all.contains(want), "{want}:\n{all}");
        }
        let agents = health_status(&body, Some("agent"));
        assert!(
            agents.contains("web-01") && !agents.contains("ctl"),
            "{agents}"
        );
        assert!(health_status(&body, Some("nats")).contains("No components found."));
    }

    #[test]
    fn agent_list_shows_state_conditions_and_os() {
        let body = json!({"total": 1, "agents": [{
            "hostname": "web-01", "status": "Ready", "state": "Draining",
            "conditions": [{"type": "HighLoad", "status": true, "last_transition_time": ""}],
            "load_average": {"1min": 0.5, "5min": 0.1, "15min": 0.0},
            "os_info": {"distribution": "Ubuntu", "version": "24.04"}
        }]});
        let out = agent_list(&body);
        for want in [
            "Active Agents (1)",
            "Draining",
            "HighLoad",
            "0.5",
            "Ubuntu 24.04",
        ] {
            assert!(out.contains(want), "{want}:\n{out}");
        }
        assert!(agent_list(&json!({"total": 0, "agents": []})).contains("No active agents found."));
    }

    #[test]
    fn table_has_headers_and_rows() {
        let out = table(
            &["hostname", "labels"],
            vec![vec!["a".into(), "g:x".into()]],
        );
        assert!(out.contains("HOSTNAME"));
        assert!(out.contains("g:x"));
    }

    #[test]
    fn labels_sorted_or_dash() {
        assert_eq!(labels(&json!({"b": "2", "a": "1"})), "a:1, b:2");
        assert_eq!(labels(&Value::Null), "-");
    }

    #[test]
    fn sizes_are_1024_based() {
        assert_eq!(bytes(&json!(1536)), "1.5 KB");
        assert_eq!(bytes(&json!(3 * 1073741824u64)), "3.0 GB");
        assert_eq!(bytes(&json!(12)), "12 B");
    }

    #[test]
    fn long_cells_are_cut() {
        assert!(cell(&"x".repeat(100)).ends_with('…'));
        assert_eq!(cell("a\nb"), "a b");
    }
}
