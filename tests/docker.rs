//! The docker domain through the real stack against a real Docker daemon: the one
//! `.ci/docker-daemon` starts (its own socket and data root, no bridge or iptables rules),
//! found at `OSAPI_TEST_DOCKER_SOCKET` or that script's default socket. The image is
//! made here: `docker import` of a tarball holding a static busybox, since no registry is
//! reachable. Without a daemon the checks that need one say so and pass, unless
//! `OSAPI_REQUIRE_TOOLS` is set, as in CI.
//!
//! A second agent has no daemon at all: its items are `skipped`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::*;
use osapi::orchestrator::Orchestrator;
use osapi::provider::docker::LinuxDocker;
use osapi::wire::ops::docker::{
    ContainerId, DockerDetail, DockerExec, DockerExecRequest, DockerExecResult, DockerInspect,
    DockerList, DockerListQuery,
};
use serde_json::{json, Value};

/// `.ci/docker-daemon`'s socket.
const CI_SOCKET: &str = "/var/lib/osapi-test-docker/docker.sock";
const IMAGE: &str = "osapi-test/busybox:1";
const NAME: &str = "osapi-test-web";
const DOCK: &str = "/node/dock-01/container/docker";

fn required() -> bool {
    std::env::var_os("OSAPI_REQUIRE_TOOLS").is_some()
}

/// The test daemon's socket, if one answers (`docker version` through it).
fn daemon_socket() -> Result<PathBuf, String> {
    let socket = std::env::var_os("OSAPI_TEST_DOCKER_SOCKET")
        .map_or_else(|| PathBuf::from(CI_SOCKET), PathBuf::from);
    let out = docker_cli(&socket, &["version", "--format", "{{.Server.APIVersion}}"])
        .map_err(|e| format!("no docker CLI: {e}"))?;
    if out.status.success() {
        Ok(socket)
    } else {
        Err(format!(
            "no Docker daemon on {} (start one with .ci/docker-daemon): {}",
            socket.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn docker_cli(socket: &Path, args: &[&str]) -> std::io::Result<std::process::Output> {
    Command::new("docker")
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .args(args)
        .output()
}

/// A tarball of a root holding a static busybox and the applets the checks use.
fn rootfs_tar() -> Vec<u8> {
    let busybox = std::fs::read("/bin/busybox").expect("/bin/busybox (Debian's busybox-static)");
    assert!(
        !has_interpreter(&busybox),
        "/bin/busybox is dynamically linked: install busybox-static"
    );
    let root = tempfile::tempdir().expect("rootfs");
    let bin = root.path().join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::fs::write(bin.join("busybox"), &busybox).expect("busybox");
    std::fs::set_permissions(
        bin.join("busybox"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("mode");
    for applet in ["sh", "echo", "sleep", "cat", "pwd", "env", "false"] {
        std::os::unix::fs::symlink("busybox", bin.join(applet)).expect("applet");
    }
    let out = Command::new("tar")
        .arg("-C")
        .arg(root.path())
        .args(["-cf", "-", "."])
        .output()
        .expect("tar");
    assert!(out.status.success(), "tar failed");
    out.stdout
}

/// Imports [`IMAGE`] from `tar` (`docker import`).
fn import_image(socket: &Path, tar: &[u8]) {
    let file = tempfile::NamedTempFile::new().expect("tar file");
    std::fs::write(file.path(), tar).expect("tar");
    let path = file.path().to_string_lossy().into_owned();
    let out = docker_cli(socket, &["import", &path, IMAGE]).expect("docker import");
    assert!(
        out.status.success(),
        "docker import: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether a 64-bit ELF file names a program interpreter (PT_INTERP): it is not static.
fn has_interpreter(elf: &[u8]) -> bool {
    let num = |at: usize, len: usize| {
        elf.get(at..at + len).map_or(0, |b| {
            b.iter().rev().fold(0usize, |n, &x| n << 8 | usize::from(x))
        })
    };
    let (offset, size, count) = (num(0x20, 8), num(0x36, 2), num(0x38, 2));
    (0..count).any(|i| num(offset + i * size, 4) == 3)
}

/// Removes what an earlier, interrupted run may have left.
fn clean(socket: &Path) {
    let _ = docker_cli(socket, &["rm", "-f", NAME]);
    let _ = docker_cli(socket, &["rmi", "-f", IMAGE]);
}

async fn send(stack: &Stack, method: &str, path: &str, body: Value) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let (code, body) = stack.send(m, path, &token(&["admin"], &[]), body).await;
    println!("{method} {path}: {code} {body}");
    (code, body)
}

/// The one item of a unicast answer.
async fn item(stack: &Stack, method: &str, path: &str, body: Value) -> (u16, Value) {
    let (code, body) = send(stack, method, path, body).await;
    (code, body["results"][0].clone())
}

fn assert_bad(field: &str, (code, body): (u16, Value)) {
    assert_eq!(code, 400, "{body}");
    assert_eq!(body["field"], field, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_round_trip_through_the_api_and_a_host_without_docker_skips() {
    let nats = Nats::start();
    let mut stack = Stack::controller(config(nats.port)).await;
    stack.wait_ready().await;
    let dir = tempfile::tempdir().expect("dir");
    let daemon = daemon_socket();
    let mut providers = linux_providers(dir.path());
    if let Ok(socket) = &daemon {
        providers.docker = Arc::new(LinuxDocker::new(socket));
    }
    stack.add_agent("dock-01", &[], providers);
    stack.add_agent("bare-01", &[], linux_providers(&dir.path().join("bare")));
    stack.wait_agents(&["dock-01", "bare-01"]).await;

    bad_input(&stack).await;
    skipped_without_a_daemon(&stack).await;
    match daemon {
        Ok(socket) => {
            clean(&socket);
            let tar = rootfs_tar();
            import_image(&socket, &tar);
            let mount = tempfile::tempdir().expect("mount");
            lifecycle(&stack, mount.path()).await;
            images(&stack).await;
            pull(&stack, &socket, tar).await;
            clean(&socket);
        }
        Err(why) => {
            assert!(!required(), "OSAPI_REQUIRE_TOOLS is set, but {why}");
            eprintln!("skipping the daemon checks: {why}");
        }
    }
    stack.shutdown().await;
}

/// Each field the issue names: 400 naming it, before any job is sent.
async fn bad_input(stack: &Stack) {
    let create = |body: Value| send(stack, "POST", DOCK, body);
    assert_bad("image", create(json!({"image": "busy box"})).await);
    assert_bad("image", create(json!({})).await);
    assert_bad(
        "ports",
        create(json!({"image": IMAGE, "ports": ["70000:80"]})).await,
    );
    assert_bad(
        "ports",
        create(json!({"image": IMAGE, "ports": ["80"]})).await,
    );
    assert_bad(
        "name",
        create(json!({"image": IMAGE, "name": "web/1"})).await,
    );
    assert_bad(
        "env",
        create(json!({"image": IMAGE, "env": ["NOVALUE"]})).await,
    );
    assert_bad(
        "dns",
        create(json!({"image": IMAGE, "dns": ["resolver"]})).await,
    );
    assert_bad(
        "volumes",
        create(json!({"image": IMAGE, "volumes": ["data"]})).await,
    );
    assert_bad(
        "state",
        send(stack, "GET", &format!("{DOCK}?state=paused"), json!({})).await,
    );
    assert_bad(
        "limit",
        send(stack, "GET", &format!("{DOCK}?limit=101"), json!({})).await,
    );
    let stop = format!("{DOCK}/web-1/stop");
    assert_bad(
        "timeout",
        send(stack, "POST", &stop, json!({"timeout": 301})).await,
    );
    let exec = format!("{DOCK}/web-1/exec");
    assert_bad(
        "command",
        send(stack, "POST", &exec, json!({"command": []})).await,
    );
    let dir = json!({"command": ["ls"], "working_dir": "tmp"});
    assert_bad("working_dir", send(stack, "POST", &exec, dir).await);
    assert_bad(
        "id",
        send(stack, "GET", &format!("{DOCK}/web%2F1"), json!({})).await,
    );
    let pull = format!("{DOCK}/pull");
    assert_bad(
        "image",
        send(stack, "POST", &pull, json!({"image": "a b"})).await,
    );
    let rmi = format!("{DOCK}/image/bad%20image");
    assert_bad("image", send(stack, "DELETE", &rmi, json!({})).await);
}

/// A host whose socket is missing answers every operation `skipped`, naming the socket.
async fn skipped_without_a_daemon(stack: &Stack) {
    let bare = "/node/bare-01/container/docker";
    for (method, path, body) in [
        ("GET", bare.to_owned(), json!({})),
        ("POST", bare.to_owned(), json!({"image": IMAGE})),
        (
            "POST",
            format!("{bare}/web-1/exec"),
            json!({"command": ["echo"]}),
        ),
        ("POST", format!("{bare}/pull"), json!({"image": IMAGE})),
    ] {
        let (code, item) = item(stack, method, &path, body).await;
        assert!(code == 200 || code == 202, "{method} {path}: {code}");
        assert_eq!(item["status"], "skipped", "{item}");
        assert_eq!(item["changed"], false, "{item}");
        let why = item["error"].as_str().unwrap_or_default();
        assert!(
            why.contains("no Docker daemon") && why.contains("docker.sock"),
            "{why}"
        );
    }
}

/// Create (twice), list, inspect, exec, stop (twice), start (twice), remove (twice).
async fn lifecycle(stack: &Stack, mount: &Path) {
    let volume = format!("{}:/data:ro", mount.display());
    let spec = json!({
        "image": IMAGE, "name": NAME, "command": ["sleep", "600"], "env": ["GREETING=hello"],
        "ports": ["18080:80"], "volumes": [volume], "hostname": "web-1", "dns": ["192.0.2.53"],
    });
    // Broadcast: the daemon's host creates it, the other skips.
    let (code, body) = send(stack, "POST", "/node/_all/container/docker", spec.clone()).await;
    assert_eq!(code, 202);
    let results = body["results"].as_array().expect("results");
    let of = |host: &str| results.iter().find(|r| r["hostname"] == host).expect(host);
    let created = of("dock-01");
    assert_eq!(
        (&created["status"], &created["changed"], &created["state"]),
        (&json!("ok"), &json!(true), &json!("running")),
        "{created}"
    );
    assert_eq!(
        (&created["name"], &created["image"]),
        (&json!(NAME), &json!(IMAGE))
    );
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(of("bare-01")["status"], "skipped");

    let (code, again) = item(stack, "POST", DOCK, spec.clone()).await;
    assert_eq!(
        (code, &again["changed"], &again["id"]),
        (202, &json!(false), &json!(id))
    );
    let absent = json!({"image": "osapi-test/absent:1", "name": "osapi-test-absent"});
    let (code, failed) = item(stack, "POST", DOCK, absent).await;
    assert_eq!(
        (code, &failed["status"]),
        (502, &json!("failed")),
        "{failed}"
    );
    assert!(
        failed["error"]
            .as_str()
            .unwrap_or_default()
            .contains("No such image"),
        "{failed}"
    );
    let mut other = spec.clone();
    other["image"] = json!("osapi-test/other:1");
    assert_bad("name", send(stack, "POST", DOCK, other).await);

    let listed = |state: &'static str| async move {
        let (code, it) = item(
            stack,
            "GET",
            &format!("{DOCK}?state={state}&limit=100"),
            json!({}),
        )
        .await;
        assert_eq!(code, 200);
        let names: Vec<String> = it["containers"]
            .as_array()
            .expect("containers")
            .iter()
            .map(|c| c["name"].as_str().unwrap_or_default().to_owned())
            .collect();
        names.contains(&NAME.to_owned())
    };
    assert!(listed("running").await && listed("all").await && !listed("stopped").await);

    let (code, detail) = item(stack, "GET", &format!("{DOCK}/{NAME}"), json!({})).await;
    assert_eq!(
        (code, &detail["id"], &detail["state"]),
        (200, &json!(id), &json!("running"))
    );
    assert_eq!(detail["ports"], json!(["18080:80"]));
    assert_eq!(
        detail["mounts"],
        json!([format!("{}:/data", mount.display())])
    );
    assert_eq!(detail["changed"], false);

    exec(stack).await;
    sdk_and_orchestrator(stack, &id).await;
    cli(stack).await;

    let stop = format!("{DOCK}/{NAME}/stop");
    let (code, stopped) = item(stack, "POST", &stop, json!({"timeout": 1})).await;
    assert_eq!(
        (code, &stopped["changed"]),
        (202, &json!(true)),
        "{stopped}"
    );
    assert_eq!(stopped["message"], "container stopped");
    let (code, body) = stack.post_empty(&stop, &token(&["admin"], &[])).await;
    assert_eq!(
        (code, &body["results"][0]["changed"]),
        (202, &json!(false)),
        "no body"
    );
    assert!(listed("stopped").await && !listed("running").await);

    let start = format!("{DOCK}/{NAME}/start");
    let (_, started) = item(stack, "POST", &start, json!({})).await;
    assert_eq!(
        (&started["changed"], &started["message"]),
        (&json!(true), &json!("container started"))
    );
    let (_, again) = item(stack, "POST", &start, json!({})).await;
    assert_eq!(again["changed"], false);

    let remove = format!("{DOCK}/{NAME}");
    let (code, running) = item(stack, "DELETE", &remove, json!({})).await;
    assert_eq!(
        (code, &running["status"]),
        (502, &json!("failed")),
        "a running one needs force"
    );
    let (code, removed) = item(stack, "DELETE", &format!("{remove}?force=true"), json!({})).await;
    assert_eq!(
        (code, &removed["changed"], &removed["message"]),
        (202, &json!(true), &json!("container removed"))
    );
    let (_, gone) = item(stack, "DELETE", &format!("{remove}?force=true"), json!({})).await;
    assert_eq!(gone["changed"], false);
    let (code, missing) = item(stack, "GET", &remove, json!({})).await;
    assert_eq!((code, &missing["status"]), (502, &json!("failed")));
}

/// `echo` with the request's env and working directory; both streams; the exit code.
async fn exec(stack: &Stack) {
    let path = format!("{DOCK}/{NAME}/exec");
    let script = "echo $GREETING $EXTRA from $(pwd); echo oops >&2";
    let body =
        json!({"command": ["sh", "-c", script], "env": ["EXTRA=there"], "working_dir": "/bin"});
    let (code, out) = item(stack, "POST", &path, body).await;
    assert_eq!(code, 202, "{out}");
    assert_eq!(out["stdout"], "hello there from /bin\n");
    assert_eq!(out["stderr"], "oops\n");
    assert_eq!(
        (&out["exit_code"], &out["changed"]),
        (&json!(0), &json!(true))
    );
    let (_, failed) = item(
        stack,
        "POST",
        &path,
        json!({"command": ["sh", "-c", "exit 3"]}),
    )
    .await;
    assert_eq!(failed["exit_code"], 3, "{failed}");
}

/// The typed SDK call and an orchestrator plan of two docker steps.
async fn sdk_and_orchestrator(stack: &Stack, id: &str) {
    let admin = token(&["admin"], &[]);
    let client = sdk_client(&stack.base, &admin);
    let query = DockerListQuery {
        state: Some("running".into()),
        limit: None,
    };
    let answer = client
        .run::<DockerList>("dock-01", &query)
        .await
        .expect("list");
    let containers = &answer.results[0].data.as_ref().expect("data").containers;
    assert!(containers.iter().any(|c| c.id == id), "{containers:?}");

    let mut o = Orchestrator::with_client(sdk_client(&stack.base, &admin));
    let exec = DockerExecRequest {
        id: NAME.into(),
        command: vec!["echo".into(), "planned".into()],
        env: None,
        working_dir: None,
    };
    let echo = o.run_op::<DockerExec>("docker-exec", "dock-01", exec).id();
    let inspect = ContainerId { id: NAME.into() };
    o.run_op::<DockerInspect>("docker-inspect", "dock-01", inspect)
        .after(echo);
    let report = o.run().await.expect("plan");
    let echoed: DockerExecResult = report.decode("docker-exec").expect("exec");
    assert_eq!(echoed.stdout, "planned\n");
    let detail: DockerDetail = report.decode("docker-inspect").expect("inspect");
    assert_eq!((detail.id.as_str(), detail.state.as_str()), (id, "running"));
}

/// Image removal (twice) and a pull that cannot reach its registry.
async fn images(stack: &Stack) {
    let rmi = format!(
        "{DOCK}/image/{}",
        IMAGE.replace('/', "%2F").replace(':', "%3A")
    );
    let (code, removed) = item(stack, "DELETE", &rmi, json!({})).await;
    assert_eq!(
        (code, &removed["changed"], &removed["message"]),
        (202, &json!(true), &json!("image removed"))
    );
    let (_, again) = item(stack, "DELETE", &rmi, json!({})).await;
    assert_eq!(again["changed"], false);
    let pull = json!({"image": "127.0.0.1:9/osapi/none:1"});
    let (code, failed) = item(stack, "POST", &format!("{DOCK}/pull"), pull).await;
    assert_eq!((code, &failed["status"]), (502, &json!("failed")));
    assert!(
        failed["error"]
            .as_str()
            .unwrap_or_default()
            .contains("pull 127.0.0.1:9/osapi/none:1"),
        "{failed}"
    );
}

/// The CLI through the real binary: a table and a `-j` body.
async fn cli(stack: &Stack) {
    let run = |args: &'static [&'static str]| cli_stdout(env!("CARGO_BIN_EXE_osapi"), stack, args);
    let table = run(&[
        "client",
        "node",
        "container",
        "docker",
        "list",
        "--state",
        "all",
        "-T",
        "dock-01",
    ])
    .await;
    println!("{table}");
    assert!(table.to_uppercase().contains("STATE"), "{table}");
    assert!(table.contains(NAME) && table.contains("running"), "{table}");
    let body: Value = serde_json::from_str(
        &run(&[
            "-j",
            "client",
            "node",
            "container",
            "docker",
            "inspect",
            "--id",
            NAME,
            "-T",
            "bare-01",
        ])
        .await,
    )
    .expect("json");
    assert_eq!(body["results"][0]["status"], "skipped", "{body}");
}

/// A registry of this test, serving one image over the Registry HTTP API v2 (plain HTTP
/// on 127.0.0.1, which the daemon takes as an insecure registry): the rootfs tarball as
/// its one layer. Returns its `host:port`.
async fn local_registry(layer: Vec<u8>) -> String {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    use sha2::{Digest, Sha256};

    let digest = |b: &[u8]| format!("sha256:{:x}", Sha256::digest(b));
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let config = serde_json::to_vec(&json!({
        "architecture": arch, "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": [digest(&layer)]},
    }))
    .expect("config");
    let manifest = serde_json::to_vec(&json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": config.len(), "digest": digest(&config)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar",
                    "size": layer.len(), "digest": digest(&layer)}],
    }))
    .expect("manifest");
    let manifest_digest = digest(&manifest);
    let blobs = Arc::new(std::collections::HashMap::from([
        (digest(&config), config),
        (digest(&layer), layer),
    ]));
    let app = axum::Router::new()
        .route("/v2/", axum::routing::get(|| async { "{}" }))
        .fallback(move |uri: axum::http::Uri| {
            let (blobs, manifest, manifest_digest) =
                (blobs.clone(), manifest.clone(), manifest_digest.clone());
            async move {
                let path = uri.path();
                if path.starts_with("/v2/osapi/busybox/manifests/") {
                    let headers = [
                        (
                            header::CONTENT_TYPE,
                            "application/vnd.docker.distribution.manifest.v2+json".to_owned(),
                        ),
                        (
                            header::HeaderName::from_static("docker-content-digest"),
                            manifest_digest,
                        ),
                    ];
                    return (headers, manifest).into_response();
                }
                let blob = path
                    .strip_prefix("/v2/osapi/busybox/blobs/")
                    .and_then(|d| blobs.get(d));
                match blob {
                    Some(b) => b.clone().into_response(),
                    None => StatusCode::NOT_FOUND.into_response(),
                }
            }
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("127.0.0.1:{}", addr.port())
}

/// A pull from [`local_registry`]: `changed` the first time, not the second (same ID).
async fn pull(stack: &Stack, socket: &Path, layer: Vec<u8>) {
    let image = format!("{}/osapi/busybox:1", local_registry(layer).await);
    let body = json!({"image": image});
    let (code, pulled) = item(stack, "POST", &format!("{DOCK}/pull"), body.clone()).await;
    assert_eq!(
        (code, &pulled["status"], &pulled["changed"]),
        (202, &json!("ok"), &json!(true)),
        "{pulled}"
    );
    assert_eq!(pulled["tag"], "1");
    assert!(
        pulled["image_id"]
            .as_str()
            .is_some_and(|id| id.starts_with("sha256:")),
        "{pulled}"
    );
    assert!(pulled["size"].as_i64().is_some_and(|s| s > 0), "{pulled}");
    let (_, again) = item(stack, "POST", &format!("{DOCK}/pull"), body).await;
    assert_eq!(
        (&again["changed"], &again["image_id"]),
        (&json!(false), &pulled["image_id"])
    );
    let _ = docker_cli(socket, &["rmi", "-f", &image]);
}
