//! Installing and operating osapi like a Linux service: the Debian package's files where
//! its units and the README say, the units valid for systemd, the man pages clean for
//! `man`, the completions loadable, the postinst's signing key, and `osapi config
//! check|show` on good and broken configs.
//!
//! The package test needs `pkg/build` to have run (CI runs `pkg/build dev` first); without
//! a package it says so and passes, unless `OSAPI_REQUIRE_TOOLS` is set, as in CI.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_osapi");

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// Whether a missing tool fails the test instead of skipping it (CI installs them all).
fn required() -> bool {
    std::env::var_os("OSAPI_REQUIRE_TOOLS").is_some()
}

fn skip(why: &str) {
    assert!(!required(), "OSAPI_REQUIRE_TOOLS is set, but {why}");
    eprintln!("skipped: {why}");
}

fn has(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `osapi -f <file> <args>` with only the given `OSAPI_*` variables.
fn osapi(file: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("-f").arg(file).args(args);
    for (var, _) in std::env::vars().filter(|(k, _)| k.starts_with("OSAPI_")) {
        cmd.env_remove(var);
    }
    run(cmd.envs(env.iter().copied()))
}

/// A config broken in one way.
struct Broken {
    what: &'static str,
    yaml: &'static str,
    /// `OSAPI_AGENT_CONSUMER_MAX_DELIVER`, when not empty.
    max_deliver: &'static str,
    /// The key (or variable) its error must name.
    key: &'static str,
}

impl Broken {
    fn env(&self) -> Vec<(&'static str, &'static str)> {
        if self.max_deliver.is_empty() {
            Vec::new()
        } else {
            vec![("OSAPI_AGENT_CONSUMER_MAX_DELIVER", self.max_deliver)]
        }
    }
}

const BROKEN: [Broken; 10] = [
    Broken {
        what: "unknown key",
        yaml: "controller: {api: {prot: 8080}}",
        max_deliver: "",
        key: "controller.api.prot",
    },
    Broken {
        what: "not a number",
        yaml: "controller: {api: {port: eighty}}",
        max_deliver: "",
        key: "controller.api.port",
    },
    Broken {
        what: "out of range",
        yaml: "nats: {server: {port: 70000}}",
        max_deliver: "",
        key: "nats.server.port",
    },
    Broken {
        what: "bad duration",
        yaml: "controller: {api: {job_timeout: 3 parsecs}}",
        max_deliver: "",
        key: "controller.api.job_timeout",
    },
    Broken {
        what: "bad choice",
        yaml: "nats: {stream: {storage: tape}}",
        max_deliver: "",
        key: "nats.stream.storage",
    },
    Broken {
        what: "zero",
        yaml: "agent: {max_jobs: 0}",
        max_deliver: "",
        key: "agent.max_jobs",
    },
    Broken {
        what: "bad label",
        yaml: "agent: {labels: {group: web..dev}}",
        max_deliver: "",
        key: "agent.labels.group",
    },
    Broken {
        what: "bad notifier",
        yaml: "controller: {notifications: {notifier: email}}",
        max_deliver: "",
        key: "controller.notifications.notifier",
    },
    Broken {
        what: "empty bucket",
        yaml: "nats: {kv: {bucket: ''}}",
        max_deliver: "",
        key: "nats.kv.bucket",
    },
    Broken {
        what: "bad variable",
        yaml: "",
        max_deliver: "[5",
        key: "OSAPI_AGENT_CONSUMER_MAX_DELIVER",
    },
];

fn error_lines(out: &Output) -> Vec<String> {
    text(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("error: "))
        .map(str::to_owned)
        .collect()
}

#[test]
fn config_check_names_the_key_of_each_of_ten_broken_configs_distinctly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut messages = BTreeSet::new();
    for (i, b) in BROKEN.iter().enumerate() {
        let (what, key) = (b.what, b.key);
        let file = dir.path().join(format!("broken-{i}.yaml"));
        std::fs::write(&file, b.yaml).expect("write");
        let out = osapi(&file, &["config", "check"], &b.env());
        assert_eq!(out.status.code(), Some(1), "{what}: {}", text(&out.stdout));
        let errors = error_lines(&out);
        assert_eq!(errors.len(), 1, "{what}: {errors:?}");
        assert!(errors[0].contains(key), "{what}: {} lacks {key}", errors[0]);
        messages.insert(errors[0].clone());

        let json = osapi(&file, &["-j", "config", "check"], &b.env());
        let report: Value = serde_json::from_slice(&json.stdout).expect("check -j prints JSON");
        assert_eq!(report["ok"], false);
        assert_eq!(report["errors"][0]["key"], key, "{what}: {report}");
    }
    assert_eq!(messages.len(), BROKEN.len(), "{messages:#?}");

    // All of them in one file (and the variable): one run names every one.
    let mut all = serde_yaml::Value::Mapping(Default::default());
    for b in BROKEN.iter().filter(|b| !b.yaml.is_empty()) {
        merge(&mut all, serde_yaml::from_str(b.yaml).expect("yaml"));
    }
    let file = dir.path().join("all.yaml");
    std::fs::write(&file, serde_yaml::to_string(&all).expect("yaml")).expect("write");
    let out = osapi(&file, &["config", "check"], &BROKEN[9].env());
    let errors = error_lines(&out);
    for b in &BROKEN {
        assert!(
            errors.iter().any(|e| e.contains(b.key)),
            "{} ({}) missing from {errors:#?}",
            b.what,
            b.key
        );
    }
    assert_eq!(errors.len(), BROKEN.len(), "{errors:#?}");
}

fn merge(base: &mut serde_yaml::Value, over: serde_yaml::Value) {
    match (base, over) {
        (serde_yaml::Value::Mapping(b), serde_yaml::Value::Mapping(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

#[test]
fn config_check_passes_the_example_and_show_masks_every_secret() {
    let example = repo("osapi.yaml.example");
    let out = osapi(&example, &["config", "check"], &[]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains(": ok ("),
        "{}",
        text(&out.stdout)
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("osapi.yaml");
    std::fs::write(
        &file,
        "controller:\n  api: {security: {signing_key: sekrit-key}}\n  client: {security: {bearer_token: sekrit-jwt}}\n  nats: {auth: {type: user_pass, username: api, password: sekrit-pw}}\n",
    )
    .expect("write");
    let env = [("OSAPI_CONTROLLER_API_PORT", "9999")];
    let yaml = osapi(&file, &["config", "show"], &env);
    let shown = text(&yaml.stdout);
    assert!(yaml.status.success(), "{}", text(&yaml.stderr));
    assert!(!shown.contains("sekrit"), "{shown}");
    assert!(
        shown.contains("port: 9999") && shown.contains("username: api"),
        "{shown}"
    );
    let json = osapi(&file, &["-j", "config", "show"], &env);
    let value: Value = serde_json::from_slice(&json.stdout).expect("show -j prints JSON");
    assert_eq!(
        value["controller"]["api"]["security"]["signing_key"],
        osapi::config::MASK
    );
    assert_eq!(
        value["controller"]["nats"]["auth"]["password"],
        osapi::config::MASK
    );
    assert_eq!(value["controller"]["api"]["port"], 9999);
}

/// Every command of the clap tree, as `osapi man` names its page.
fn page_names() -> BTreeSet<String> {
    fn walk(cmd: &clap::Command, prefix: &str, out: &mut BTreeSet<String>) {
        let name = if prefix.is_empty() {
            cmd.get_name().to_owned()
        } else {
            format!("{prefix}-{}", cmd.get_name())
        };
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
            if sub.get_name() != "help" {
                walk(sub, &name, out);
            }
        }
        out.insert(format!("{name}.1"));
    }
    let mut out = BTreeSet::new();
    walk(
        &<osapi::cli::Cli as clap::CommandFactory>::command(),
        "",
        &mut out,
    );
    out
}

/// `man -l` renders `page` with every groff warning on and says nothing on stderr.
fn assert_renders(page: &Path) {
    let out = run(Command::new("man")
        .args(["--warnings=w", "-l"])
        .arg(page)
        .env("MANWIDTH", "80")
        .env("MAN_DISABLE_SECCOMP", "1"));
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}: {}",
        page.display(),
        text(&out.stderr)
    );
    assert!(
        !out.stdout.is_empty(),
        "{} rendered nothing",
        page.display()
    );
}

#[test]
fn man_pages_one_per_command_render_without_warnings() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(Command::new(BIN).arg("man").arg(dir.path()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let written: BTreeSet<String> = std::fs::read_dir(dir.path())
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(written, page_names());
    assert!(written.contains("osapi-config-check.1"), "{written:?}");
    if !has("man") {
        return skip("no man to render the pages (apt-get install man-db)");
    }
    for page in &written {
        assert_renders(&dir.path().join(page));
    }
}

/// The package `pkg/build` made: `OSAPI_DEB`, else the newest in target/debian/.
fn package() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("OSAPI_DEB") {
        return Some(PathBuf::from(path));
    }
    std::fs::read_dir(repo("target/debian"))
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
}

/// A unit file's `Key=value` settings, in order.
fn settings(unit: &Path) -> Vec<(String, String)> {
    std::fs::read_to_string(unit)
        .expect("unit")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn setting<'a>(settings: &'a [(String, String)], key: &str) -> Option<&'a str> {
    settings
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// `path` (absolute, as installed) inside `root`, also as compressed by the packager.
fn installed(root: &Path, path: &str) -> Option<PathBuf> {
    let inside = root.join(path.trim_start_matches('/'));
    let gz = PathBuf::from(format!("{}.gz", inside.display()));
    [inside, gz].into_iter().find(|p| p.exists())
}

const UNITS: [&str; 4] = [
    "osapi.service",
    "osapi-nats.service",
    "osapi-controller.service",
    "osapi-agent.service",
];

#[test]
fn the_package_puts_every_file_where_its_units_and_the_readme_say() {
    let Some(deb) = package() else {
        return skip("no package in target/debian (run pkg/build)");
    };
    if !has("dpkg-deb") {
        return skip("no dpkg-deb to unpack the package");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (root, control) = (dir.path().join("root"), dir.path().join("control"));
    for (flag, into) in [("-x", &root), ("-e", &control)] {
        let out = run(Command::new("dpkg-deb").arg(flag).arg(&deb).arg(into));
        assert!(
            out.status.success(),
            "dpkg-deb {flag}: {}",
            text(&out.stderr)
        );
    }
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p:?}: {e}"));

    // The binary is this build's.
    let bin = root.join("usr/bin/osapi");
    let version = run(Command::new(&bin).arg("version"));
    assert!(
        text(&version.stdout).contains(env!("CARGO_PKG_VERSION")),
        "stale package {deb:?}"
    );

    // Control: what it needs and what it recommends.
    let fields = read(&control.join("control"));
    assert!(fields.contains("Package: osapi"), "{fields}");
    assert!(
        fields
            .lines()
            .any(|l| l.starts_with("Depends:") && l.contains("adduser")),
        "{fields}"
    );
    assert!(
        fields
            .lines()
            .any(|l| l.starts_with("Recommends:") && l.contains("nats-server")),
        "{fields}"
    );
    let conffiles = read(&control.join("conffiles"));
    let postinst = read(&control.join("postinst"));

    // Every unit: its binary, config, docs, user and state directory are there.
    let unit_dir = ["lib/systemd/system", "usr/lib/systemd/system"]
        .into_iter()
        .map(|d| root.join(d))
        .find(|d| d.join("osapi.service").exists())
        .expect("units installed");
    let mut config_file = None;
    for unit in UNITS {
        let s = settings(&unit_dir.join(unit));
        assert_eq!(setting(&s, "Type"), Some("notify"), "{unit}");
        assert_eq!(setting(&s, "Restart"), Some("on-failure"), "{unit}");
        assert!(setting(&s, "TimeoutStopSec").is_some(), "{unit}");
        let exec: Vec<&str> = setting(&s, "ExecStart")
            .expect("ExecStart")
            .split(' ')
            .collect();
        assert!(
            installed(&root, exec[0]).is_some(),
            "{unit}: {} missing",
            exec[0]
        );
        let config = exec[exec.iter().position(|a| *a == "-f").expect("-f") + 1];
        assert!(
            conffiles.lines().any(|l| l == config),
            "{unit}: {config} no conffile"
        );
        config_file = Some(config.to_owned());
        for doc in setting(&s, "Documentation")
            .expect("Documentation")
            .split(' ')
        {
            let path = match doc.strip_prefix("man:") {
                Some(page) => format!("/usr/share/man/man1/{}.1", page.trim_end_matches("(1)")),
                None => doc
                    .strip_prefix("file://")
                    .expect("man: or file://")
                    .to_owned(),
            };
            assert!(
                installed(&root, &path).is_some(),
                "{unit}: {doc} not installed"
            );
        }
        if let Some(user) = setting(&s, "User") {
            assert!(
                postinst.contains("adduser") && postinst.contains(&format!(" {user}\n")),
                "{unit}: postinst makes no user {user}"
            );
        }
        if let Some(state) = setting(&s, "StateDirectory") {
            assert_eq!(
                setting(&s, "WorkingDirectory"),
                Some(format!("/var/lib/{state}").as_str()),
                "{unit}"
            );
        }
    }

    // The config: a conffile readable by root and the group only, with no signing key
    // until postinst makes one, its JetStream store in the units' state directory.
    let config = root.join(config_file.expect("a unit").trim_start_matches('/'));
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&config.metadata().expect("config").permissions());
    assert_eq!(mode & 0o777, 0o640);
    let shipped = read(&config);
    assert!(shipped.contains("signing_key: \"\""), "{shipped}");
    assert!(shipped.contains("store_dir: /var/lib/osapi/"), "{shipped}");
    let check = osapi(&config, &["config", "check"], &[]);
    assert!(check.status.success(), "{}", text(&check.stdout));
    assert!(text(&check.stdout).contains("signing_key is empty"));

    // postinst, into this root: a fresh key, kept on the next configure.
    let configure = || {
        let out = run(Command::new("sh")
            .arg(control.join("postinst"))
            .arg("configure")
            .env("DPKG_ROOT", &root));
        assert!(out.status.success(), "postinst: {}", text(&out.stderr));
    };
    configure();
    let key_of = |text: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix("signing_key: "))
            .expect("signing_key line")
            .to_owned()
    };
    let key = key_of(&read(&config));
    assert!(
        key.len() == 64 && key.chars().all(|c| c.is_ascii_hexdigit()),
        "{key}"
    );
    configure();
    assert_eq!(
        key_of(&read(&config)),
        key,
        "a second configure changed the key"
    );
    let check = osapi(&config, &["config", "check"], &[]);
    assert!(
        text(&check.stdout).contains("ok (0 errors, 0 warnings)"),
        "{}",
        text(&check.stdout)
    );
    let shown = text(&osapi(&config, &["config", "show"], &[]).stdout);
    assert!(!shown.contains(&key) && shown.contains(osapi::config::MASK));

    // Man pages, one per command, and completions in their standard places.
    let man1 = root.join("usr/share/man/man1");
    for page in page_names() {
        assert!(installed(&man1, &page).is_some(), "{page} not installed");
    }
    let bash = root.join("usr/share/bash-completion/completions/osapi");
    common::assert_bash_completion_loads(&bash);
    for path in [
        "/usr/share/zsh/vendor-completions/_osapi",
        "/usr/share/fish/vendor_completions.d/osapi.fish",
        "/usr/share/doc/osapi/copyright",
        "/usr/share/doc/osapi/swagger-ui/LICENSE",
    ] {
        assert!(installed(&root, path).is_some(), "{path} not installed");
    }

    // Every installed path the README's install section names.
    let readme = std::fs::read_to_string(repo("README.md")).expect("README");
    let section = readme
        .split("\n## ")
        .find(|s| s.starts_with("Install"))
        .expect("README has an Install section");
    let mut named = 0;
    for word in section.split(|c: char| c.is_whitespace() || "`()[],;:".contains(c)) {
        if ["/etc/osapi/", "/usr/", "/lib/"]
            .iter()
            .any(|p| word.starts_with(p))
        {
            let path = word.trim_end_matches('.');
            assert!(
                installed(&root, path).is_some(),
                "README names {path}, not installed"
            );
            named += 1;
        }
    }
    assert!(
        named >= 3,
        "the README's install section names {named} paths"
    );

    verify_units(&root, &unit_dir);
    let packaged_page = installed(&man1, "osapi-start.1").expect("osapi-start page");
    if has("man") {
        assert_renders(&packaged_page);
    }
}

/// `systemd-analyze verify` on every unit, against the unpacked package as root (its
/// binary, its man pages: `Documentation=man:` is checked too).
fn verify_units(root: &Path, unit_dir: &Path) {
    if !has("systemd-analyze") {
        eprintln!("skipped systemd-analyze verify: no systemd-analyze on this machine");
        return;
    }
    // The units they refer to (sysinit.target, network-online.target) are the host's:
    // copied beside ours, never over them.
    for host in ["/lib/systemd/system", "/usr/lib/systemd/system"] {
        if Path::new(host).is_dir() {
            run(Command::new("cp")
                .arg("-rn")
                .arg(format!("{host}/."))
                .arg(unit_dir));
        }
    }
    let units: Vec<PathBuf> = UNITS.iter().map(|u| unit_dir.join(u)).collect();
    let out = run(Command::new("systemd-analyze")
        .arg(format!("--root={}", root.display()))
        .arg("verify")
        .args(&units)
        .env("MANPATH", root.join("usr/share/man"))
        .env("SYSTEMD_LOG_LEVEL", "warning"));
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "systemd-analyze verify: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}
