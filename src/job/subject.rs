//! Routing subjects: `[<ns>.]jobs.<query|modify>.<route>`.

use super::target::{label_prefixes, sanitize_hostname, Target};

/// Whether an operation reads (query) or changes (modify) the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    Query,
    Modify,
}

impl OpKind {
    fn token(self) -> &'static str {
        match self {
            Self::Query => "query",
            Self::Modify => "modify",
        }
    }
}

/// Builds subjects under one namespace. The namespace is passed explicitly, never global.
#[derive(Debug, Clone)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    /// `namespace` empty means no prefix.
    pub fn new(namespace: &str) -> Self {
        let prefix = if namespace.is_empty() {
            "jobs".to_owned()
        } else {
            format!("{namespace}.jobs")
        };
        Self { prefix }
    }

    /// The JOBS stream's subject filter.
    pub fn stream_filter(&self) -> String {
        format!("{}.>", self.prefix)
    }

    /// The subject a job for `target` is published on.
    pub fn for_target(&self, kind: OpKind, target: &Target) -> String {
        let base = format!("{}.{}", self.prefix, kind.token());
        match target {
            Target::Any => format!("{base}._any"),
            Target::All => format!("{base}._all"),
            Target::Host(h) => format!("{base}.host.{}", sanitize_hostname(h)),
            Target::Label { key, value } => format!("{base}.label.{key}.{value}"),
        }
    }

    /// Filter of the one consumer all agents share for `_any` (load balancing).
    pub fn any_filter(&self) -> String {
        format!("{}.*._any", self.prefix)
    }

    /// Filters of an agent's own consumer: `_all`, its hostname, and every prefix level
    /// of every label value (so `group:web` reaches an agent labelled `web.dev`).
    pub fn agent_filters(
        &self,
        hostname: &str,
        labels: &std::collections::BTreeMap<String, String>,
    ) -> Vec<String> {
        let mut filters = vec![
            format!("{}.*._all", self.prefix),
            format!("{}.*.host.{}", self.prefix, sanitize_hostname(hostname)),
        ];
        for (key, value) in labels {
            for prefix in label_prefixes(value) {
                filters.push(format!("{}.*.label.{key}.{prefix}", self.prefix));
            }
        }
        filters
    }

    /// Query or modify, from a received subject.
    pub fn kind_of(&self, subject: &str) -> Option<OpKind> {
        let rest = subject.strip_prefix(&self.prefix)?.strip_prefix('.')?;
        match rest.split('.').next()? {
            "query" => Some(OpKind::Query),
            "modify" => Some(OpKind::Modify),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn subjects_for_each_target() {
        let s = Subjects::new("osapi");
        assert_eq!(
            s.for_target(OpKind::Query, &Target::Any),
            "osapi.jobs.query._any"
        );
        assert_eq!(
            s.for_target(OpKind::Modify, &Target::All),
            "osapi.jobs.modify._all"
        );
        assert_eq!(
            s.for_target(OpKind::Query, &Target::Host("web.01".into())),
            "osapi.jobs.query.host.web_2e01"
        );
        assert_eq!(
            s.for_target(OpKind::Query, &Target::parse("group:web.dev").unwrap()),
            "osapi.jobs.query.label.group.web.dev"
        );
        assert_eq!(Subjects::new("").stream_filter(), "jobs.>");
    }

    #[test]
    fn agent_filters_cover_each_label_level() {
        let labels = BTreeMap::from([("group".to_string(), "web.dev".to_string())]);
        let f = Subjects::new("ns").agent_filters("a", &labels);
        assert_eq!(
            f,
            [
                "ns.jobs.*._all",
                "ns.jobs.*.host.a",
                "ns.jobs.*.label.group.web",
                "ns.jobs.*.label.group.web.dev"
            ]
        );
    }

    #[test]
    fn kind_from_subject() {
        let s = Subjects::new("ns");
        assert_eq!(s.kind_of("ns.jobs.query._any"), Some(OpKind::Query));
        assert_eq!(s.kind_of("ns.jobs.modify.host.x"), Some(OpKind::Modify));
        assert_eq!(s.kind_of("other.jobs.query._any"), None);
    }
}
