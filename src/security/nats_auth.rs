//! Authenticated NATS by default (`nats.server.auth.type: auto`): the embedded server admits
//! only NKeys osapi generated, one for the controller and one per agent, each limited to
//! what its role does.
//!
//! NKeys rather than passwords: the server's config holds only public keys, and a client
//! proves it holds the seed by signing the server's nonce, so no secret crosses the wire
//! or sits in the rendered config.
//!
//! The controller (also osapi's own setup and NATS-heartbeat connection) may do anything.
//! An agent may read job records and its own drain flag and answers, use its two job
//! consumers, read uploaded files, and write status events, answers, its registry entry,
//! facts, timeline and file-deploy state under its own hostname; nothing else. Its replies
//! come on its own inbox prefix ([`inbox_prefix`]), so it cannot listen to anyone else's.

use std::path::{Path, PathBuf};

use nkeys::KeyPair;

use super::{credentials_dir, secret_file, SecurityError};
use crate::agent::{own_consumer_name, SHARED_ANY_CONSUMER};
use crate::config::{AuthType, Config, NatsConnection};
use crate::job::target::sanitize_hostname;
use crate::nats::supervisor::{NkeyUser, Permissions};
use crate::nats::Names;

/// The controller's NKey seed (also used by osapi's own setup connection).
pub fn controller_seed(config: &Config) -> PathBuf {
    credentials_dir(config).join("controller.nk")
}

/// The NKey seed of the agent named `hostname`.
pub fn agent_seed(config: &Config, hostname: &str) -> PathBuf {
    credentials_dir(config).join(format!("agent-{}.nk", sanitize_hostname(hostname)))
}

/// The inbox prefix of the agent named `hostname`: its replies (JetStream API answers,
/// pulled jobs, publish acks) arrive under it, and it may subscribe to nothing else but its
/// drain flag. With the default `_INBOX` it could listen to every client's replies.
pub fn inbox_prefix(hostname: &str) -> String {
    format!("_INBOX_agent_{}", sanitize_hostname(hostname))
}

/// Generates every missing seed (mode 0600) and returns the embedded server's users: the
/// controller, `local_agent` (this host's agent) and each of `nats.server.auth.agents`.
pub fn ensure_users(config: &Config, local_agent: &str) -> Result<Vec<NkeyUser>, SecurityError> {
    let mut users = vec![NkeyUser {
        public_key: public_key_of(&controller_seed(config))?,
        permissions: None,
    }];
    let mut hosts = vec![local_agent];
    for host in &config.nats.server.auth.agents {
        if !hosts.contains(&host.as_str()) {
            hosts.push(host);
        }
    }
    for host in hosts {
        users.push(NkeyUser {
            public_key: public_key_of(&agent_seed(config, host))?,
            permissions: Some(agent_permissions(config, host)),
        });
    }
    Ok(users)
}

/// The public key of the seed in `path`, generating the seed when it is missing.
fn public_key_of(path: &Path) -> Result<String, SecurityError> {
    let (seed, created) = secret_file::read_or_create(path, || {
        KeyPair::new_user()
            .seed()
            .map_err(|e| SecurityError::Random(e.to_string()))
    })?;
    if created {
        tracing::info!(path = %path.display(), "generated a NATS NKey seed (mode 0600)");
    }
    KeyPair::from_seed(&seed)
        .map(|pair| pair.public_key())
        .map_err(|e| SecurityError::BadSeed {
            path: path.to_owned(),
            reason: e.to_string(),
        })
}

/// Points every `auto` client block that names no `nkey_file` at the seed generated for
/// its role on this host: the controller's, and `agent_hostname`'s when given. A seed that
/// does not exist (yet) means connecting without credentials, checked at each attempt.
pub fn use_generated(config: &mut Config, agent_hostname: Option<&str>) {
    let controller = controller_seed(config);
    default_seed(&mut config.controller.nats, controller);
    if let Some(host) = agent_hostname {
        let agent = agent_seed(config, host);
        default_seed(&mut config.agent.nats, agent);
    }
}

fn default_seed(conn: &mut NatsConnection, seed: PathBuf) {
    if conn.auth.kind == AuthType::Auto && conn.auth.nkey_file.trim().is_empty() {
        conn.auth.nkey_file = seed.to_string_lossy().into_owned();
    }
}

/// Everything the agent named `hostname` may publish and subscribe to, with the streams,
/// buckets and namespace of `config`'s server. Every key layout is `wire::keys`'s.
pub fn agent_permissions(config: &Config, hostname: &str) -> Permissions {
    let host = sanitize_hostname(hostname);
    let names = Names::new(&config.nats.server.namespace);
    let n = &config.nats;
    let jobs_stream = names.infra(&n.stream.name);
    let mut publish = vec![format!("$JS.API.STREAM.INFO.{jobs_stream}")];
    // Its two consumers: created (with a filter in the subject or not), read, pulled, acked.
    for consumer in [SHARED_ANY_CONSUMER.to_owned(), own_consumer_name(hostname)] {
        let api = "$JS.API.CONSUMER";
        publish.extend([
            format!("{api}.INFO.{jobs_stream}.{consumer}"),
            format!("{api}.CREATE.{jobs_stream}.{consumer}"),
            format!("{api}.CREATE.{jobs_stream}.{consumer}.>"),
            format!("{api}.MSG.NEXT.{jobs_stream}.{consumer}"),
            format!("$JS.ACK.{jobs_stream}.{consumer}.>"),
        ]);
    }
    // Per bucket: keys it reads (one direct get by key, never a consumer) and keys it writes.
    let buckets: [(&str, Vec<String>, Vec<String>); 6] = [
        (
            &n.kv.bucket,
            vec!["jobs.*".into()],
            vec![format!("status.*.*.{host}.*")],
        ),
        (
            &n.kv.response_bucket,
            vec![format!("*.{host}")],
            vec![format!("*.{host}")],
        ),
        (&n.registry.bucket, vec![], vec![format!("agents.{host}")]),
        (&n.facts.bucket, vec![], vec![format!("facts.{host}")]),
        (
            &n.state.bucket,
            vec![format!("drain.{host}")],
            vec![format!("timeline.{host}.>")],
        ),
        (
            &n.file_state.bucket,
            vec![format!("{host}.*")],
            vec![format!("{host}.*")],
        ),
    ];
    for (bucket, reads, writes) in buckets {
        if bucket.is_empty() {
            continue;
        }
        let b = names.infra(bucket);
        publish.push(format!("$JS.API.STREAM.INFO.KV_{b}"));
        publish.extend(
            reads
                .iter()
                .map(|key| format!("$JS.API.DIRECT.GET.KV_{b}.$KV.{b}.{key}")),
        );
        publish.extend(writes.iter().map(|key| format!("$KV.{b}.{key}")));
    }
    // Job records again from the stream leader (a replica may lag behind the put), and
    // its own `started` events by pattern on a redelivery: the body form of direct get
    // reads any key of the job bucket, whose records it may read already.
    let jobs = names.infra(&n.kv.bucket);
    publish.extend([
        format!("$JS.API.STREAM.MSG.GET.KV_{jobs}"),
        format!("$JS.API.DIRECT.GET.KV_{jobs}"),
    ]);
    // Uploaded files, to deploy: their metadata by name, their chunks through a short-lived
    // consumer of its own.
    if !n.objects.bucket.is_empty() {
        let o = names.infra(&n.objects.bucket);
        let stream = format!("OBJ_{o}");
        publish.extend([
            format!("$JS.API.STREAM.INFO.{stream}"),
            format!("$JS.API.DIRECT.GET.{stream}.$O.{o}.M.>"),
            format!("$JS.API.CONSUMER.CREATE.{stream}"),
            format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.*"),
            format!("$JS.API.CONSUMER.DELETE.{stream}.*"),
        ]);
    }
    let state = names.infra(&n.state.bucket);
    Permissions {
        publish,
        subscribe: vec![
            format!("{}.>", inbox_prefix(hostname)),
            format!("$KV.{state}.drain.{host}"),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config_in(dir: &Path) -> Config {
        let mut c = Config::default();
        c.nats.server.store_dir = dir.join("jetstream").to_string_lossy().into_owned();
        c
    }

    #[test]
    fn seeds_are_generated_once_per_role_and_host() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = config_in(dir.path());
        c.nats.server.auth.agents = vec!["web.01".into(), "here".into()];
        let users = ensure_users(&c, "here").expect("users");
        assert_eq!(users.len(), 3, "controller, here and web.01 once each");
        assert!(
            users[0].permissions.is_none(),
            "the controller may do anything"
        );
        assert!(users.iter().all(|u| u.public_key.starts_with('U')));
        for file in ["controller.nk", "agent-here.nk", "agent-web_2e01.nk"] {
            assert!(dir.path().join("credentials").join(file).exists(), "{file}");
        }
        let again = ensure_users(&c, "here").expect("again");
        let keys = |u: &[NkeyUser]| u.iter().map(|u| u.public_key.clone()).collect::<Vec<_>>();
        assert_eq!(keys(&again), keys(&users), "the same keys on every start");
    }

    #[test]
    fn generated_seeds_are_the_default_of_auto_clients_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = config_in(dir.path());
        c.agent.nats.auth.kind = AuthType::None;
        use_generated(&mut c, Some("h"));
        assert_eq!(
            Path::new(&c.controller.nats.auth.nkey_file),
            controller_seed(&c)
        );
        assert_eq!(c.agent.nats.auth.nkey_file, "", "explicitly without auth");
        c.agent.nats.auth.kind = AuthType::Auto;
        c.agent.nats.auth.nkey_file = "/etc/osapi/agent.nk".into();
        use_generated(&mut c, Some("h"));
        assert_eq!(c.agent.nats.auth.nkey_file, "/etc/osapi/agent.nk");
    }

    #[test]
    fn an_agent_writes_under_its_own_hostname_only() {
        let perms = agent_permissions(&Config::default(), "web.01");
        let host = "web_2e01";
        for subject in [
            format!("$KV.osapi-job-responses.*.{host}"),
            format!("$KV.osapi-job-queue.status.*.*.{host}.*"),
            format!("$KV.osapi-agent-registry.agents.{host}"),
            format!("$KV.osapi-agent-facts.facts.{host}"),
            "$JS.API.DIRECT.GET.KV_osapi-job-queue.$KV.osapi-job-queue.jobs.*".to_owned(),
        ] {
            assert!(perms.publish.contains(&subject), "{subject}");
        }
        // Every write and read by key names its host; nothing publishes a job or lists a
        // bucket through a consumer.
        for subject in &perms.publish {
            if subject.starts_with("$KV.") {
                assert!(subject.contains(host), "{subject}");
            }
            assert!(!subject.contains(".jobs.query") && !subject.contains(".jobs.modify"));
            assert!(!subject.contains("CONSUMER.CREATE.KV_"), "{subject}");
        }
        // Gets by sequence or pattern only of the job bucket, whose records every agent
        // reads anyway (leader reads, its own `started` events).
        let unkeyed: Vec<&String> = perms
            .publish
            .iter()
            .filter(|s| s.contains("STREAM.MSG.GET") || s.starts_with("$JS.API.DIRECT.GET.KV_"))
            .filter(|s| !s.contains("$KV."))
            .collect();
        assert_eq!(
            unkeyed,
            [
                "$JS.API.STREAM.MSG.GET.KV_osapi-job-queue",
                "$JS.API.DIRECT.GET.KV_osapi-job-queue"
            ]
        );
        assert_eq!(
            perms.subscribe,
            [
                "_INBOX_agent_web_2e01.>",
                "$KV.osapi-agent-state.drain.web_2e01"
            ]
        );
    }

    /// The snippet for external servers in docs/security.md is this code's own output.
    #[test]
    fn the_documented_permissions_are_the_generated_ones() {
        let doc = include_str!("../../docs/security.md");
        let rendered = agent_permissions(&Config::default(), "web-01").render();
        assert!(
            doc.contains(&format!("permissions: {rendered}")),
            "docs/security.md must show:\n{rendered}"
        );
    }
}
