//! container-targeting: a container's life in one plan. Pull an image, create a
//! container from it, run two commands in it at once, then remove it, whatever happened.
//!
//! The pull may fail where no registry is reachable; `.continue_on_error()` and a guard
//! on create let the plan go on with an image the host already has.
//!
//! DAG:
//!   docker-pull (continue on error)
//!       └── docker-create (runs either way)
//!               ├── docker-exec          ├── docker-exec-2   (one level, concurrent)
//!               └──────── docker-remove (force) ─────────┘
//!
//! Run: `cargo run --example container-targeting` (with OSAPI_TOKEN set; the image is
//! `OSAPI_EXAMPLE_IMAGE`, default `busybox:latest`, on the agent `_any` picks).

use osapi::orchestrator::Orchestrator;
use osapi::wire::ops::docker::{
    ContainerRemove, DockerCreate, DockerCreateRequest, DockerExec, DockerExecRequest,
    DockerExecResult, DockerPull, DockerRemove, ImageRef,
};

const NAME: &str = "osapi-example-container";

fn exec(words: &[&str]) -> DockerExecRequest {
    DockerExecRequest {
        id: NAME.into(),
        command: words.iter().map(|w| w.to_string()).collect(),
        env: None,
        working_dir: None,
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let image = std::env::var("OSAPI_EXAMPLE_IMAGE").unwrap_or_else(|_| "busybox:latest".into());
    // One host for every step: a container lives on the host that created it.
    let host = "_any";
    let mut o = Orchestrator::from_env()?;

    let pull = o
        .run_op::<DockerPull>(
            "docker-pull",
            host,
            ImageRef {
                image: image.clone(),
            },
        )
        .continue_on_error()
        .id();
    let create = DockerCreateRequest {
        image,
        name: Some(NAME.into()),
        command: Some(vec!["sleep".into(), "300".into()]),
        ..Default::default()
    };
    // A guard makes the step run even though its dependency may have failed.
    let created = o
        .run_op::<DockerCreate>("docker-create", host, create)
        .after(pull)
        .when(|_| true)
        .id();
    let hello = o
        .run_op::<DockerExec>("docker-exec", host, exec(&["echo", "hello"]))
        .after(created)
        .continue_on_error()
        .id();
    let uname = o
        .run_op::<DockerExec>("docker-exec-2", host, exec(&["uname", "-a"]))
        .after(created)
        .continue_on_error()
        .id();
    let remove = ContainerRemove {
        id: NAME.into(),
        force: true,
    };
    o.run_op::<DockerRemove>("docker-remove", host, remove)
        .after([hello, uname])
        .when(|_| true);

    let report = o.run().await.inspect_err(|e| eprintln!("error: {e}"))?;
    for step in ["docker-exec", "docker-exec-2"] {
        if let Ok(out) = report.decode::<DockerExecResult>(step) {
            println!("{step}: exit {} {}", out.exit_code, out.stdout.trim_end());
        }
    }
    Ok(())
}
