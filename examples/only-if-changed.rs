//! only-if-changed: react to changes. A file is deployed to a fresh path, so the deploy
//! changes something and its `.only_if_changed()` follow-up runs. Deploying the same
//! content again changes nothing, so that follow-up is skipped ("no dependencies
//! changed"). Only /tmp/osapi-example is touched.
//!
//! DAG:
//!   prepare (mkdir, remove old copy)   upload-file
//!        └──────────────┬──────────────────┘
//!                  deploy-file                      changed
//!                  ├── show-deployed (only if changed)   runs
//!                  └── deploy-file-2                    unchanged
//!                          └── after-redeploy (only if changed)   skipped
//!
//! Run: `cargo run --example only-if-changed` (with OSAPI_TOKEN set)

use osapi::orchestrator::Orchestrator;
use osapi::sdk::DeployRequest;

const DIR: &str = "/tmp/osapi-example";
const PATH: &str = "/tmp/osapi-example/only-if-changed.txt";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut o = Orchestrator::from_env()?;

    // The target directory must exist; removing the old copy makes the deploy change.
    let prepare = o
        .command_shell("_all", &format!("mkdir -p {DIR} && rm -f {PATH}"))
        .named("prepare")
        .id();
    // Unchanged (and nothing sent) when the object store already has this content.
    let upload = o
        .file_upload("osapi-example-only-if-changed", "raw", "hello from osapi\n")
        .id();

    let request = DeployRequest {
        object_name: "osapi-example-only-if-changed".into(),
        path: PATH.into(),
        content_type: "raw".into(),
        ..DeployRequest::default()
    };
    let deploy = o
        .file_deploy("_all", request.clone())
        .after([prepare, upload])
        .id();
    o.command_exec("_all", "cat", &[PATH])
        .named("show-deployed")
        .after(deploy)
        .only_if_changed();

    // Same content, same path: unchanged, so its follow-up is skipped.
    let redeploy = o.file_deploy("_all", request).after(deploy).id();
    o.command_exec("_all", "echo", &["never printed"])
        .named("after-redeploy")
        .after(redeploy)
        .only_if_changed();

    let report = o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;
    println!();
    for name in [
        "deploy-file",
        "show-deployed",
        "deploy-file-2",
        "after-redeploy",
    ] {
        println!("{name:15} {}", report.status(name));
    }
    Ok(())
}
