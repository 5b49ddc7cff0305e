//! The typed SDK client against a real stack: every typed method, decoded fields checked
//! against the agents and the machine. Files go to temp dirs, DNS to temp resolv.conf
//! files.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use osapi::sdk::*;

const AGENTS: [&str; 2] = ["a1", "a2"];

/// Two agents with fake node names (`a1` labelled `group:web`, `a2` `group:db`), real
/// commands, and DNS in `dir/<agent>/resolv.conf`.
async fn start(nats: &Nats, dir: &Path) -> (Stack, Client) {
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    for (name, group) in [("a1", "web"), ("a2", "db")] {
        let mut providers = fake_providers(FakeNode::new(name));
        providers.dns = temp_dns(&dir.join(name));
        stack.add_agent(name, &[("group", group)], providers);
    }
    stack.wait_agents(&AGENTS).await;
    let client = sdk_client(&stack.base, &token(&["admin"], &[]));
    (stack, client)
}

fn hosts<T: HostEntry>(c: &Collection<T>) -> Vec<String> {
    let mut names: Vec<String> = c.results.iter().map(|h| h.hostname().to_owned()).collect();
    names.sort();
    names
}

fn meminfo_bytes(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .expect("meminfo key")
        * 1024
}

/// The payload of a unicast answer, failing the test on a host error.
fn only<T: serde::Serialize + Clone>(c: &Collection<HostResult<T>>, host: &str) -> T {
    assert_eq!(c.results.len(), 1, "one host expected");
    let item = c.first().expect("one result");
    assert_eq!(item.hostname, host);
    assert_eq!(item.error, None, "{host} failed");
    item.data.clone().expect("payload")
}

/// The file state of a unicast file-status answer (its item has no host `status`: the
/// file state takes that name).
fn only_file(c: &Collection<FileStatusItem>, host: &str) -> FileStatusPayload {
    assert_eq!(c.results.len(), 1, "one host expected");
    let item = c.first().expect("one result");
    assert_eq!(item.hostname, host);
    assert_eq!(item.error, None, "{host} failed");
    item.file.clone().expect("payload")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn health_node_network_and_commands() {
    let nats = Nats::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (stack, client) = start(&nats, dir.path()).await;

    // Health.
    assert_eq!(
        client.health_liveness().await.expect("liveness").status,
        "ok"
    );
    let ready = client.health_ready().await.expect("ready");
    assert_eq!((ready.status.as_str(), ready.error), ("ready", None));
    let status = client.health_status().await.expect("status");
    assert_eq!(status.version, osapi::VERSION);
    assert!(
        status.components.contains_key("controller.api"),
        "{:?}",
        status.components
    );

    // Hostname: the agents' own names, labels, broadcast and label targets.
    let all = client.get_hostname("_all").await.expect("hostname _all");
    assert_eq!(hosts(&all), AGENTS);
    assert!(all
        .results
        .iter()
        .all(|h| !h.changed() && h.error().is_none()));
    let web = client.get_hostname("group:web").await.expect("by label");
    let first = web.first().expect("one");
    assert_eq!(hosts(&web), ["a1"]);
    assert_eq!(
        first
            .labels
            .as_ref()
            .and_then(|l| l.get("group"))
            .map(String::as_str),
        Some("web")
    );
    assert!(!web.job_id.is_empty());

    // Node reads, checked against this machine (the fake node delegates to Linux).
    let memory = only(&client.get_memory("a1").await.expect("memory"), "a1").memory;
    assert_eq!(memory.total, meminfo_bytes("MemTotal"));
    assert!(memory.total > 0 && memory.available <= memory.total);
    let status = only(&client.get_node_status("a1").await.expect("status"), "a1");
    assert_eq!(status.memory.map(|m| m.total), Some(memory.total));
    assert!(status.uptime_seconds.unwrap_or(0.0) > 0.0);
    let uptime = only(&client.get_uptime("a1").await.expect("uptime"), "a1");
    let proc_uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .expect("uptime")
        .split_whitespace()
        .next()
        .and_then(|s| s.parse().ok())
        .expect("seconds");
    assert!(
        (uptime.uptime_seconds - proc_uptime).abs() < 60.0,
        "{} vs {proc_uptime}",
        uptime.uptime_seconds
    );
    assert!(uptime.uptime.ends_with('s'), "{}", uptime.uptime);
    let load = only(&client.get_load("a1").await.expect("load"), "a1").load_average;
    assert!(load.one >= 0.0 && load.five >= 0.0 && load.fifteen >= 0.0);
    let os = only(&client.get_os("a1").await.expect("os"), "a1").os_info;
    assert!(!os.distribution.is_empty(), "{os:?}");
    let disks = client.get_disk("_all").await.expect("disk");
    assert_eq!(hosts(&disks), AGENTS);
    for h in &disks.results {
        assert_eq!(h.error(), None);
        for d in &h.data.as_ref().expect("disks").disks {
            assert!(d.name.starts_with('/') && d.used <= d.total, "{d:?}");
        }
    }

    // DNS in the temp resolv.conf: read, update (changed, then unchanged), read back.
    let dns = only(&client.get_dns("a1", "eth0").await.expect("dns"), "a1");
    assert_eq!(
        (dns.servers, dns.search_domains),
        (
            vec!["192.0.2.53".to_owned()],
            vec!["example.test".to_owned()]
        )
    );
    let update = DnsUpdateRequest {
        interface_name: "eth0".into(),
        servers: Some(vec!["192.0.2.1".into(), "192.0.2.2".into()]),
        ..Default::default()
    };
    let answer = client.update_dns("a1", &update).await.expect("update");
    let item = answer.first().expect("one");
    assert_eq!(
        (
            item.hostname(),
            item.status().as_str(),
            item.changed(),
            item.error()
        ),
        ("a1", "ok", true, None)
    );
    let again = client
        .update_dns("a1", &update)
        .await
        .expect("update again");
    assert!(!again.first().expect("one").changed());
    let dns = only(&client.get_dns("a1", "eth0").await.expect("dns"), "a1");
    assert_eq!(dns.servers, ["192.0.2.1", "192.0.2.2"]);
    assert_eq!(dns.search_domains, ["example.test"]);
    let untouched = only(&client.get_dns("a2", "eth0").await.expect("dns a2"), "a2");
    assert_eq!(untouched.servers, ["192.0.2.53"]);

    // Ping loopback.
    let ping = PingRequest {
        address: "127.0.0.1".into(),
        count: 1,
    };
    let echo = only(&client.ping("a1", &ping).await.expect("ping"), "a1");
    assert_eq!((echo.packets_sent, echo.packets_received), (1, 1));
    assert!(echo.avg_rtt.ends_with("ms"), "{}", echo.avg_rtt);

    // Commands: output, environment, a non-zero exit as the host's error, broadcasts.
    let exec = CommandExecRequest {
        command: "printf".into(),
        args: vec!["%s|%s".into(), "a b".into(), "$HOME".into()],
        ..Default::default()
    };
    let answer = client.exec("a1", &exec).await.expect("exec");
    let item = answer.first().expect("one");
    assert_eq!((item.changed(), item.error()), (true, None));
    let out = only(&answer, "a1");
    assert_eq!((out.stdout.as_str(), out.exit_code), ("a b|$HOME", 0));

    let shell = CommandShellRequest {
        command: "echo \"$GREETING\"; echo err >&2; exit 3".into(),
        env: BTreeMap::from([("GREETING".into(), "hi".into())]),
        ..Default::default()
    };
    let answer = client.shell("a1", &shell).await.expect("shell");
    let item = answer.first().expect("one");
    let out = item.data.as_ref().expect("payload");
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str(), out.exit_code),
        ("hi\n", "err\n", 3)
    );
    assert_eq!(item.error().as_deref(), Some("exit code 3"));
    assert_eq!(item.error, None, "the server itself reported no error");

    let everywhere = CommandShellRequest {
        command: "echo @fact.hostname".into(),
        ..Default::default()
    };
    let answer = client.shell("_all", &everywhere).await.expect("broadcast");
    assert_eq!(hosts(&answer), AGENTS);
    for h in &answer.results {
        let out = h.data.as_ref().expect("payload");
        assert_eq!(out.stdout, format!("{}\n", h.hostname));
    }

    // A broadcast whose hosts all fail is still an answer, with per-host errors.
    let missing = CommandExecRequest {
        command: "no-such-program-xyz".into(),
        ..Default::default()
    };
    let answer = client
        .exec("_all", &missing)
        .await
        .expect("broadcast answer");
    for h in &answer.results {
        let error = h.error().unwrap_or_default();
        assert!(error.contains("no-such-program-xyz"), "{error}");
        assert!(h.data.is_none());
    }
    // The same on one host is a 502: an error.
    match client.exec("a1", &missing).await {
        Err(e @ SdkError::Server { status: 502, .. }) => {
            assert_eq!(e.status(), Some(502));
            assert!(e.to_string().contains("no-such-program-xyz"), "{e}");
        }
        other => panic!("expected a 502, got {other:?}"),
    }
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_upload_check_deploy_and_status() {
    let nats = Nats::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (stack, client) = start(&nats, dir.path()).await;
    let content = Bytes::from_static(b"port=80\n");
    let sha = osapi::sdk::sha256_hex(&content);

    // Missing object: changed; upload: changed; same again: unchanged, nothing sent.
    let check = client
        .file_changed("app.conf", &content)
        .await
        .expect("check");
    assert_eq!(
        check,
        FileChangedResult {
            name: "app.conf".into(),
            changed: true,
            sha256: sha.clone()
        }
    );
    let up = client
        .file_upload_bytes("app.conf", "raw", content.clone(), false)
        .await
        .expect("upload");
    assert_eq!(
        up,
        FileUploadResult {
            name: "app.conf".into(),
            sha256: sha.clone(),
            size: 8,
            changed: true,
            content_type: "raw".into()
        }
    );
    let again = client
        .file_upload_bytes("app.conf", "raw", content.clone(), false)
        .await
        .expect("upload again");
    assert!(!again.changed, "{again:?}");
    assert_eq!((again.sha256.as_str(), again.size), (sha.as_str(), 8));
    // Nothing is sent: a read-only client (file:read, no file:write) gets the same.
    let reader = sdk_client(&stack.base, &token(&["read"], &[]));
    let skipped = reader
        .file_upload_bytes("app.conf", "raw", content.clone(), false)
        .await
        .expect("skipped upload");
    assert_eq!(skipped, again);
    assert!(matches!(
        reader
            .file_upload_bytes("app.conf", "raw", content.clone(), true)
            .await,
        Err(SdkError::Auth { status: 403, .. })
    ));
    assert!(
        !client
            .file_changed("app.conf", &content)
            .await
            .expect("check")
            .changed
    );
    assert!(
        client
            .file_changed("app.conf", b"port=81\n")
            .await
            .expect("check")
            .changed
    );

    // Other content conflicts unless forced.
    let other = Bytes::from_static(b"port=81\n");
    match client
        .file_upload_bytes("app.conf", "raw", other.clone(), false)
        .await
    {
        Err(e @ SdkError::Conflict { .. }) => assert_eq!(e.status(), Some(409)),
        other => panic!("expected a conflict, got {other:?}"),
    }
    let forced = client
        .file_upload_bytes("app.conf", "raw", other.clone(), true)
        .await
        .expect("forced");
    assert!(forced.changed);
    assert_eq!(forced.sha256, osapi::sdk::sha256_hex(&other));
    let forced_same = client
        .file_upload_bytes("app.conf", "raw", other.clone(), true)
        .await
        .expect("forced again");
    assert!(forced_same.changed, "forced uploads always send");
    let back = client
        .file_upload_bytes("app.conf", "raw", content.clone(), true)
        .await
        .expect("back");
    assert_eq!(back.sha256, sha);

    // Metadata and listing.
    let info = client.file_get("app.conf").await.expect("get");
    assert_eq!(
        (info.name.as_str(), info.sha256.as_str(), info.size),
        ("app.conf", sha.as_str(), 8)
    );
    let tpl = client
        .file_upload_bytes(
            "motd.tpl",
            "template",
            Bytes::from_static(b"host={{ hostname }}\n"),
            false,
        )
        .await
        .expect("template");
    assert_eq!(tpl.content_type, "template");
    let list = client.file_list().await.expect("list");
    let names: Vec<&str> = list.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!((names, list.total), (vec!["app.conf", "motd.tpl"], 2));

    // Deploy to a temp dir on a1, then status, drift and repair.
    let target_dir = dir.path().join("deploy");
    std::fs::create_dir(&target_dir).expect("dir");
    let path = target_dir.join("app.conf").display().to_string();
    let deploy = DeployRequest {
        object_name: "app.conf".into(),
        path: path.clone(),
        mode: Some("0640".into()),
        ..Default::default()
    };
    let answer = client.file_deploy("a1", &deploy).await.expect("deploy");
    let item = answer.first().expect("one");
    assert_eq!((item.changed(), item.error()), (true, None));
    let written = only(&answer, "a1");
    assert_eq!(
        (written.path.as_str(), written.sha256.as_str()),
        (path.as_str(), sha.as_str())
    );
    assert_eq!(std::fs::read(&path).expect("deployed"), b"port=80\n");
    let repeat = client.file_deploy("a1", &deploy).await.expect("repeat");
    assert!(!repeat.first().expect("one").changed());

    let request = StatusRequest { path: path.clone() };
    let st = only_file(
        &client.file_status("a1", &request).await.expect("status"),
        "a1",
    );
    assert_eq!(
        (st.status.as_str(), st.sha256.as_deref()),
        ("in-sync", Some(sha.as_str()))
    );
    std::fs::write(&path, "edited by hand\n").expect("edit");
    let st = only_file(
        &client.file_status("a1", &request).await.expect("status"),
        "a1",
    );
    assert_eq!(st.status, "drifted");
    client.file_deploy("a1", &deploy).await.expect("repair");
    assert_eq!(std::fs::read(&path).expect("repaired"), b"port=80\n");

    // Templates render per host; a2 gets its own file.
    for h in AGENTS {
        std::fs::create_dir(target_dir.join(h)).expect("host dir");
    }
    let tpath = target_dir.join("@fact.hostname").join("motd");
    let answer = client
        .file_deploy(
            "_all",
            &DeployRequest {
                object_name: "motd.tpl".into(),
                path: tpath.display().to_string(),
                content_type: "template".into(),
                ..Default::default()
            },
        )
        .await
        .expect("template deploy");
    assert_eq!(hosts(&answer), AGENTS);
    for h in AGENTS {
        let text = std::fs::read_to_string(target_dir.join(h).join("motd")).expect("motd");
        assert_eq!(text, format!("host={h}\n"));
    }

    // A changed object makes the deploy stale.
    client
        .file_upload_bytes("app.conf", "raw", other, true)
        .await
        .expect("change");
    let stale = client.file_stale().await.expect("stale");
    assert_eq!(stale.total, stale.stale.len());
    let entry = stale
        .stale
        .iter()
        .find(|s| s.path == path)
        .expect("stale entry");
    assert_eq!(
        (entry.hostname.as_str(), entry.deployed_sha.as_str()),
        ("a1", sha.as_str())
    );

    // Delete; then it is missing.
    let deleted = client.file_delete("motd.tpl").await.expect("delete");
    assert_eq!((deleted.name.as_str(), deleted.deleted), ("motd.tpl", true));
    match client.file_get("motd.tpl").await {
        Err(SdkError::NotFound {
            status: 404,
            message,
        }) => {
            assert!(message.contains("not found"), "{message}")
        }
        other => panic!("expected not found, got {other:?}"),
    }
    assert!(matches!(
        client.file_delete("motd.tpl").await,
        Err(SdkError::NotFound { .. })
    ));
    assert!(
        client
            .file_changed("motd.tpl", b"host={{ hostname }}\n")
            .await
            .expect("check")
            .changed
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agents_jobs_and_error_kinds() {
    let nats = Nats::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let (stack, client) = start(&nats, dir.path()).await;

    // Agents (the registry may trail the first answered job by a heartbeat).
    let mut list = client.agent_list().await.expect("agents");
    for _ in 0..100 {
        if list.total == AGENTS.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        list = client.agent_list().await.expect("agents");
    }
    let mut names: Vec<&str> = list.agents.iter().map(|a| a.hostname.as_str()).collect();
    names.sort();
    assert_eq!((names, list.total), (AGENTS.to_vec(), 2));
    let a1 = client.agent_get("a1").await.expect("agent");
    assert_eq!(
        (
            a1.hostname.as_str(),
            a1.status.as_str(),
            a1.agent_version.as_str()
        ),
        ("a1", "Ready", osapi::VERSION)
    );
    assert_eq!(a1.labels.get("group").map(String::as_str), Some("web"));

    // Drain and undrain, with conflicts when repeated.
    let drained = client.agent_drain("a2").await.expect("drain");
    assert_eq!(
        (drained.hostname.as_str(), drained.status.as_str()),
        ("a2", "Draining")
    );
    assert!(matches!(
        client.agent_drain("a2").await,
        Err(SdkError::Conflict { status: 409, .. })
    ));
    let a2 = client.agent_get("a2").await.expect("agent");
    assert_eq!(
        a2.status, "Ready",
        "status stays Ready; the drain shows in state"
    );
    assert!(
        a2.state == "Draining" || a2.state == "Drained",
        "{}",
        a2.state
    );
    let ready = client.agent_undrain("a2").await.expect("undrain");
    assert_eq!(ready.status, "Ready");
    assert!(matches!(
        client.agent_undrain("a2").await,
        Err(SdkError::Conflict { .. })
    ));

    // Jobs: the one an exec created, listed, detailed, retried, deleted.
    let exec = CommandExecRequest {
        command: "true".into(),
        ..Default::default()
    };
    let id = client.exec("a1", &exec).await.expect("exec").job_id;
    // The `completed` event follows the response the caller already has.
    let mut detail = client.job_get(&id).await.expect("job");
    for _ in 0..100 {
        if detail.status == OverallStatus::Completed {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        detail = client.job_get(&id).await.expect("job");
    }
    assert_eq!(detail.status, OverallStatus::Completed);
    assert_eq!(
        (detail.id.as_str(), detail.target.as_str()),
        (id.as_str(), "a1")
    );
    assert_eq!(detail.operation.kind, "command.exec.execute");
    assert_eq!(detail.operation.data["command"], "true");
    let responses = detail.responses.as_ref().expect("responses");
    let response = responses.get("a1").expect("a1 answered");
    assert_eq!(response.status, JobStatus::Completed);
    assert_eq!(response.hostname, "a1");
    // One answer: its data is the result and its `changed` the job's.
    assert_eq!(detail.result.as_ref(), response.data.as_ref());
    assert_eq!(detail.changed, Some(true));
    assert_eq!(detail.hostname.as_deref(), Some("a1"));
    let states = detail.agent_states.as_ref().expect("agent states");
    assert_eq!(states["a1"].status, "completed");
    assert!(states["a1"].duration.is_some());
    let timeline = detail.timeline.as_ref().expect("timeline");
    assert!(timeline.iter().any(|e| e.event == "completed"));

    let page = client.job_list(None, 100, 0).await.expect("jobs");
    let item = page.items.iter().find(|j| j.id == id).expect("listed");
    assert_eq!(item.changed, None);
    assert!(item.result.is_some() && item.responses.is_none());
    let counts = page.status_counts.as_ref().expect("status counts");
    assert_eq!(page.total_items, counts.values().sum::<usize>());
    let completed = client
        .job_list(Some("completed"), 100, 0)
        .await
        .expect("completed jobs");
    assert!(completed
        .items
        .iter()
        .all(|j| j.status == OverallStatus::Completed));
    assert!(completed.items.iter().any(|j| j.id == id));
    let one = client.job_list(None, 1, 0).await.expect("page");
    assert_eq!(one.items.len(), 1);

    let retry = client.job_retry(&id, None).await.expect("retry");
    assert_eq!(
        (retry.retry_of.as_deref(), retry.status.as_str()),
        (Some(id.as_str()), "created")
    );
    assert_ne!(retry.job_id, id);
    let again = client.job_get(&retry.job_id).await.expect("retried job");
    assert_eq!(again.target, "_any");
    let pinned = client
        .job_retry(&id, Some("a1"))
        .await
        .expect("retry on a1");
    let pinned = client.job_get(&pinned.job_id).await.expect("pinned job");
    assert_eq!(pinned.target, "a1");

    // Audit: list, one entry, export.
    let audit = client.audit_list(5, 0).await.expect("audit list");
    assert!(audit.total_items >= audit.items.len() && !audit.items.is_empty());
    let first = &audit.items[0];
    let entry = client
        .audit_get(&first.id)
        .await
        .expect("audit entry")
        .entry;
    assert_eq!(&entry, first);
    let all = client.audit_export().await.expect("audit export");
    assert_eq!(all.total_items, all.items.len());
    assert!(all.items.iter().any(|e| e.id == first.id));
    client.job_delete(&id).await.expect("delete");
    assert!(matches!(
        client.job_get(&id).await,
        Err(SdkError::NotFound { status: 404, .. })
    ));
    assert!(matches!(
        client.job_delete(&id).await,
        Err(SdkError::NotFound { .. })
    ));

    // Error kinds.
    let not_found = client.agent_get("no-such-agent").await.expect_err("404");
    assert!(
        matches!(not_found, SdkError::NotFound { .. }),
        "{not_found:?}"
    );
    assert_eq!(not_found.status(), Some(404));
    assert!(
        not_found
            .to_string()
            .starts_with("api error (status 404): agent \"no-such-agent\" not found"),
        "{not_found}"
    );

    let validation = |r: Result<_, SdkError>, what: &str| match r {
        Err(SdkError::Validation {
            status: 400,
            message,
        }) => message,
        other => panic!("{what}: expected a 400, got {other:?}"),
    };
    let empty = CommandExecRequest::default();
    let msg = validation(client.exec("a1", &empty).await.map(|_| ()), "empty command");
    assert!(msg.contains("command"), "{msg}");
    let zero = PingRequest {
        address: "127.0.0.1".into(),
        count: 0,
    };
    validation(client.ping("a1", &zero).await.map(|_| ()), "count 0");
    let nothing = DnsUpdateRequest {
        interface_name: "eth0".into(),
        ..Default::default()
    };
    validation(
        client.update_dns("a1", &nothing).await.map(|_| ()),
        "no lists",
    );
    let relative = DeployRequest {
        object_name: "x".into(),
        path: "relative/path".into(),
        ..Default::default()
    };
    validation(
        client.file_deploy("a1", &relative).await.map(|_| ()),
        "relative path",
    );
    let msg = validation(
        client.get_hostname("no-such-host").await.map(|_| ()),
        "unknown target",
    );
    assert!(msg.contains("not found"), "{msg}");
    validation(
        client.job_list(Some("bogus"), 10, 0).await.map(|_| ()),
        "status",
    );
    validation(client.job_get("not-a-uuid").await.map(|_| ()), "job id");

    // Read-only and bad tokens.
    let reader = sdk_client(&stack.base, &token(&["read"], &[]));
    assert_eq!(
        hosts(&reader.get_hostname("a1").await.expect("read")),
        ["a1"]
    );
    match reader.exec("a1", &exec).await {
        Err(e @ SdkError::Auth { status: 403, .. }) => assert_eq!(e.status(), Some(403)),
        other => panic!("expected 403, got {other:?}"),
    }
    assert!(matches!(
        reader.agent_drain("a1").await,
        Err(SdkError::Auth { status: 403, .. })
    ));
    let stranger = sdk_client(&stack.base, "garbage");
    assert!(matches!(
        stranger.agent_list().await,
        Err(SdkError::Auth { status: 401, .. })
    ));
    // Public liveness needs no token.
    assert_eq!(
        stranger.health_liveness().await.expect("public").status,
        "ok"
    );

    stack.shutdown().await;

    // Nothing listens any more: a transport error, no status.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_reserved, port) = closed_port();
    let gone = Client::new(&format!("http://127.0.0.1:{port}"), "t").expect("client");
    let e = gone.health_liveness().await.expect_err("transport");
    assert!(matches!(e, SdkError::Transport { .. }), "{e:?}");
    assert_eq!(e.status(), None);
}
