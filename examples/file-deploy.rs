//! file-deploy: upload a template to the object store, render and deploy it on every
//! agent with variables, then verify with `file_status_get`. Writes only
//! /tmp/osapi-example/motd.
//!
//! The template sees `hostname`, `facts` (the agent's facts) and `vars`. A second run
//! reports `unchanged` everywhere: same object, same rendered content.
//!
//! DAG:
//!   run-mkdir (_all)   upload-file
//!        └──────┬───────────┘
//!          deploy-file (_all, vars env=dev)
//!               └── file-status (_all): in-sync, drifted or missing
//!
//! Run: `cargo run --example file-deploy` (with OSAPI_TOKEN set)

use std::collections::BTreeMap;

use osapi::orchestrator::ops::types::{FileDeployResult, FileStatusResult};
use osapi::orchestrator::Orchestrator;
use osapi::sdk::DeployRequest;
use serde_json::json;

const OBJECT: &str = "osapi-example-motd";
const DIR: &str = "/tmp/osapi-example";
const PATH: &str = "/tmp/osapi-example/motd";
const TEMPLATE: &str = "Welcome to {{ hostname }} ({{ facts.cpu_count }} CPUs, {{ vars.env }})\n";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut o = Orchestrator::from_env()?;

    // Deploy needs the target directory to exist.
    let mkdir = o.command_exec("_all", "mkdir", &["-p", DIR]).id();
    // Same name and content: unchanged. Different content under the same name is a
    // conflict; `file_upload_forced` replaces it.
    let upload = o.file_upload(OBJECT, "template", TEMPLATE).id();

    let request = DeployRequest {
        object_name: OBJECT.into(),
        path: PATH.into(),
        content_type: "template".into(),
        mode: Some("0644".into()),
        vars: BTreeMap::from([("env".to_owned(), json!("dev"))]),
        ..DeployRequest::default()
    };
    let deploy = o.file_deploy("_all", request).after([mkdir, upload]).id();
    o.file_status_get("_all", PATH).after(deploy);

    let report = o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;

    println!();
    for host in &report.get("deploy-file").ok_or("not run")?.hosts {
        if let (Ok(d), None) = (host.decode::<FileDeployResult>(), &host.error) {
            println!("{}: {} sha256 {}", host.hostname, d.path, d.sha256);
        } else {
            println!("{}: failed: {:?}", host.hostname, host.error);
        }
    }
    for host in &report.get("file-status").ok_or("not run")?.hosts {
        if let Ok(s) = host.decode::<FileStatusResult>() {
            println!("{}: {} is {}", host.hostname, s.path, s.status);
        }
    }
    Ok(())
}
