//! The orchestrator against a real stack: nats-server, the controller and three agents,
//! driven through the SDK client over HTTP.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use common::*;
use osapi::orchestrator::ops::types::{CommandResult, FileStatusResult, HostnameResult};
use osapi::orchestrator::predicate::{arch, has_label, os};
use osapi::orchestrator::{Orchestrator, TaskError, TaskOutput, TaskStatus, TextRenderer};
use osapi::sdk::DeployRequest;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fleet_plan_runs_with_guards_broadcasts_and_discovery() {
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    let root = tempfile::tempdir().expect("tempdir");
    let fleet = [("web-1", "web.prod"), ("web-2", "web.dev"), ("db-1", "db")];
    for (host, group) in fleet {
        std::fs::create_dir(root.path().join(host)).expect("dir");
        stack.add_agent(
            host,
            &[("group", group)],
            fake_providers(FakeNode::new(host)),
        );
    }
    stack.wait_agents(&["web-1", "web-2", "db-1"]).await;
    wait_for_facts(&stack, 3).await;

    let (renderer, output) = TextRenderer::buffer(true);
    let mut o = Orchestrator::with_client(sdk_client(&stack.base, &token(&["admin"], &[])))
        .with_observer(Arc::new(renderer));

    // Discovery while building the plan.
    let web_filter = [has_label("group", "web.prod").or(has_label("group", "web.dev"))];
    let web: BTreeSet<String> = o
        .discover(&web_filter)
        .await
        .expect("discover")
        .into_iter()
        .map(|a| a.hostname)
        .collect();
    assert_eq!(
        web,
        BTreeSet::from(["web-1".to_string(), "web-2".to_string()])
    );
    let machine_arch = std::env::consts::ARCH;
    let groups = o
        .group_by_fact("architecture", &[arch(machine_arch)])
        .await
        .expect("group");
    assert_eq!(
        groups.get(machine_arch).map(Vec::len),
        Some(3),
        "{groups:?}"
    );

    let path = format!("{}/@fact.hostname/motd", root.path().display());
    let deploy = DeployRequest {
        object_name: "motd".into(),
        path: path.clone(),
        content_type: "template".into(),
        mode: Some("0640".into()),
        ..DeployRequest::default()
    };

    let health = o.health_check().id();
    let agents = o.agent_list().after(health).id();
    let hostnames = o.node_hostname_get("_all").after(health).id();
    let hello = o
        .command_exec("_all", "echo", &["hello world"])
        .after(health)
        .id();
    let failing = o
        .command_shell("group:web", "echo oops >&2; exit 3")
        .after(health)
        .continue_on_error()
        .id();
    o.command_exec("_any", "true", &[])
        .named("cleanup")
        .after(failing)
        .only_if_any_host_failed();
    let upload = o
        .file_upload("motd", "template", "hello from {{ hostname }}\n")
        .after(health)
        .id();
    let deployed = o
        .file_deploy("group:web", deploy.clone())
        .after([upload, agents])
        .only_if_changed()
        .when_fact(agents, has_label("group", "web.prod"))
        .id();
    o.command_shell(
        "group:web",
        &format!("cat {}/web-1/motd", root.path().display()),
    )
    .named("after-deploy")
    .after(deployed)
    .only_if_changed();
    let redeploy = o.file_deploy("group:web", deploy).after(deployed).id();
    o.command_exec("_all", "true", &[])
        .named("after-redeploy")
        .after(redeploy)
        .only_if_changed();
    o.file_status_get("group:web", &path).after(redeploy);
    o.command_exec("_any", "true", &[])
        .named("plan9-only")
        .when_fact(agents, os("plan9"));
    o.task_func("count-hosts", |_, results| async move {
        let hosts: Vec<String> = results
            .host_results("get-hostname")
            .iter()
            .map(|h| h.hostname.clone())
            .collect();
        if hosts.is_empty() {
            return Err(TaskError::msg("no hostnames yet"));
        }
        Ok(TaskOutput::unchanged(json!({ "hosts": hosts })))
    })
    .after(hostnames);
    for host in &web {
        o.node_hostname_get(host).after(hello);
    }

    let levels = o.levels().expect("valid plan");
    assert_eq!(levels[0], ["health-check"]);
    let report = o.run().await.expect("the plan completes");
    let text = String::from_utf8(output.lock().expect("lock").clone()).expect("utf8");

    let expect = [
        ("health-check", TaskStatus::Unchanged),
        ("list-agents", TaskStatus::Unchanged),
        ("get-hostname", TaskStatus::Unchanged),
        ("run-echo", TaskStatus::Changed),
        ("shell-echo", TaskStatus::Changed),
        ("cleanup", TaskStatus::Changed),
        ("upload-file", TaskStatus::Changed),
        ("deploy-file", TaskStatus::Changed),
        ("after-deploy", TaskStatus::Changed),
        ("deploy-file-2", TaskStatus::Unchanged),
        ("after-redeploy", TaskStatus::Skipped),
        ("file-status", TaskStatus::Unchanged),
        ("plan9-only", TaskStatus::Skipped),
        ("count-hosts", TaskStatus::Unchanged),
        ("get-hostname-2", TaskStatus::Unchanged),
        ("get-hostname-3", TaskStatus::Unchanged),
    ];
    for (step, status) in expect {
        assert_eq!(report.status(step), status, "{step}\n{text}");
    }
    assert_eq!(report.tasks.len(), expect.len());

    // Per-host results of broadcasts.
    let hosts = |step: &str| -> BTreeSet<String> {
        report
            .get(step)
            .expect("step")
            .hosts
            .iter()
            .map(|h| h.hostname.clone())
            .collect()
    };
    assert_eq!(
        hosts("get-hostname"),
        BTreeSet::from(["web-1", "web-2", "db-1"].map(String::from))
    );
    assert_eq!(hosts("shell-echo"), web);
    assert_eq!(hosts("deploy-file"), web);
    let hello = report.get("run-echo").expect("ran");
    for h in &hello.hosts {
        let out: CommandResult = h.decode().expect("command result");
        assert_eq!(out.stdout, "hello world\n", "{}", h.hostname);
        assert!(h.changed && h.error.is_none());
    }
    let failing = report.get("shell-echo").expect("ran");
    for h in &failing.hosts {
        assert_eq!(h.error.as_deref(), Some("exit code 3"), "{}", h.hostname);
        let out: CommandResult = h.decode().expect("command result");
        assert_eq!(out.stderr, "oops\n");
    }
    let deploy_hosts = &report.get("deploy-file").expect("ran").hosts;
    assert!(deploy_hosts.iter().all(|h| h.changed), "{deploy_hosts:?}");
    assert!(report
        .get("deploy-file-2")
        .expect("ran")
        .hosts
        .iter()
        .all(|h| !h.changed));
    for host in &web {
        let body = std::fs::read_to_string(root.path().join(host).join("motd")).expect("deployed");
        assert_eq!(body, format!("hello from {host}\n"));
    }
    assert!(
        !root.path().join("db-1/motd").exists(),
        "db-1 is not in group:web"
    );
    let status: FileStatusResult = report.decode("file-status").expect("status");
    assert_eq!(status.status, "in-sync");
    let first: HostnameResult = report.decode("get-hostname-2").expect("hostname");
    assert!(web.contains(&first.hostname));
    let counted: serde_json::Value = report.decode("count-hosts").expect("data");
    assert_eq!(counted["hosts"].as_array().map(Vec::len), Some(3));
    let skip = report
        .get("after-redeploy")
        .and_then(|t| t.skip_reason.clone());
    assert_eq!(skip.as_deref(), Some("no dependencies changed"));
    assert_eq!(
        report
            .get("plan9-only")
            .and_then(|t| t.skip_reason.clone())
            .as_deref(),
        Some("when-fact: no matching agent")
    );

    // The live report shows the plan, every step and the summary.
    for want in [
        "Execution Plan",
        "[skip]      after-redeploy",
        "[changed]   deploy-file",
        "[web-1] failed: exit code 3 changed",
        "stderr: oops",
        "Complete: 16 tasks, 6 changed, 8 unchanged, 2 skipped in",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }

    // Job steps follow their job's events: each host shows as it answers, before the
    // step's own result line.
    let done_at = text.find("[unchanged] get-hostname ").expect("step result");
    for host in ["web-1", "web-2", "db-1"] {
        let answered = text
            .lines()
            .find(|l| {
                l.starts_with("  [answer]")
                    && l.contains(" get-hostname ")
                    && l.ends_with(&format!(" {host} ok"))
            })
            .unwrap_or_else(|| panic!("no live answer of {host} in\n{text}"));
        let at = text.find(answered).expect("line");
        assert!(at < done_at, "{host} shown after the step ended\n{text}");
    }

    // A second run of a unicast to an unknown host fails the step and stops the plan.
    let mut o = Orchestrator::with_client(sdk_client(&stack.base, &token(&["admin"], &[])))
        .with_observer(Arc::new(osapi::orchestrator::Silent));
    let missing = o.node_hostname_get("nobody").id();
    o.command_exec("_any", "true", &[]).after(missing);
    let err = o.run().await.expect_err("stops");
    let report = err.report().expect("partial report");
    assert_eq!(report.status("get-hostname"), TaskStatus::Failed);
    assert_eq!(report.status("run-true"), TaskStatus::Unknown);
    assert!(err.to_string().contains("get hostname"), "{err}");
    stack.shutdown().await;
}

/// Waits until `n` agents have reported facts (discovery reads them).
async fn wait_for_facts(stack: &Stack, n: usize) {
    let t = token(&["admin"], &[]);
    for _ in 0..200 {
        let (_, body) = stack.get("/agent", Some(&t)).await;
        let with_facts = body["agents"].as_array().map_or(0, |a| {
            a.iter().filter(|a| a["collected_at"].is_string()).count()
        });
        if with_facts >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("agents never reported facts");
}
