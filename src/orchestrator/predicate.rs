//! Predicates over agents, for discovery, grouping and `when_fact` guards. They compose:
//! `os("ubuntu").and(min_cpu(4)).and(healthy().not())`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use crate::wire::agent::AgentInfo;

/// A test of one agent.
#[derive(Clone)]
pub struct Predicate(Arc<dyn Fn(&AgentInfo) -> bool + Send + Sync>);

impl Predicate {
    /// Any test on the agent.
    pub fn custom(f: impl Fn(&AgentInfo) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Whether `agent` matches.
    pub fn matches(&self, agent: &AgentInfo) -> bool {
        (self.0)(agent)
    }

    /// Both must match.
    pub fn and(self, other: Predicate) -> Self {
        Self::custom(move |a| self.matches(a) && other.matches(a))
    }

    /// Either must match.
    pub fn or(self, other: Predicate) -> Self {
        Self::custom(move |a| self.matches(a) || other.matches(a))
    }

    /// The opposite.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Self {
        Self::custom(move |a| !self.matches(a))
    }
}

/// True when every predicate matches (and for none).
pub fn match_all(agent: &AgentInfo, preds: &[Predicate]) -> bool {
    preds.iter().all(|p| p.matches(agent))
}

/// OS distribution, ignoring case (`ubuntu`, `debian`, ...).
pub fn os(distribution: &str) -> Predicate {
    let want = distribution.to_owned();
    Predicate::custom(move |a| {
        a.facts
            .as_ref()
            .and_then(|f| f.os.as_ref())
            .is_some_and(|o| o.distribution.eq_ignore_ascii_case(&want))
    })
}

/// CPU architecture, ignoring case (`x86_64`, `aarch64`, ...).
pub fn arch(architecture: &str) -> Predicate {
    let want = architecture.to_owned();
    Predicate::custom(move |a| {
        a.facts
            .as_ref()
            .is_some_and(|f| f.architecture.eq_ignore_ascii_case(&want))
    })
}

/// At least `bytes` of memory.
pub fn min_memory(bytes: u64) -> Predicate {
    Predicate::custom(move |a| a.facts.as_ref().is_some_and(|f| f.memory_total >= bytes))
}

/// At least `cpus` CPUs.
pub fn min_cpu(cpus: usize) -> Predicate {
    Predicate::custom(move |a| a.facts.as_ref().is_some_and(|f| f.cpu_count >= cpus))
}

/// Label `key` equals `value`.
pub fn has_label(key: &str, value: &str) -> Predicate {
    let (key, value) = (key.to_owned(), value.to_owned());
    Predicate::custom(move |a| a.labels.get(&key) == Some(&value))
}

/// Fact `key` (see [`fact`]) equals `value` as JSON: `fact_equals("cpu_count", 4)`.
pub fn fact_equals(key: &str, value: impl Into<Value>) -> Predicate {
    let (key, value) = (key.to_owned(), value.into());
    Predicate::custom(move |a| fact(a, &key).as_ref() == Some(&value))
}

/// An active condition of this type (`DiskPressure`, ...), ignoring case.
pub fn has_condition(kind: &str) -> Predicate {
    let kind = kind.to_owned();
    Predicate::custom(move |a| {
        a.conditions
            .iter()
            .any(|c| c.status && c.kind.eq_ignore_ascii_case(&kind))
    })
}

/// No active condition of this type.
pub fn no_condition(kind: &str) -> Predicate {
    has_condition(kind).not()
}

/// No active condition at all.
pub fn healthy() -> Predicate {
    Predicate::custom(|a| a.conditions.iter().all(|c| !c.status))
}

/// A fact of the agent by key: the original's names (`os.distribution`, `os.version`,
/// `architecture`, `kernel_version`, `service_manager`, `package_manager`), any field of
/// the facts by dotted path (`cpu_count`, `os.version`), or a custom fact by name.
pub fn fact(agent: &AgentInfo, key: &str) -> Option<Value> {
    let facts = serde_json::to_value(agent.facts.as_ref()?).ok()?;
    if key == "hostname" {
        return Some(Value::String(agent.hostname.clone()));
    }
    // Facts travel with the original's AgentInfo names (`os_info`, custom ones under
    // `facts`); the original's fact keys say `os.`.
    let key = match key {
        "service_manager" => "service_mgr".to_owned(),
        "package_manager" => "package_mgr".to_owned(),
        k => match k.strip_prefix("os.") {
            Some(rest) => format!("os_info.{rest}"),
            None => k.to_owned(),
        },
    };
    let by_path = key
        .split('.')
        .try_fold(&facts, |v, part| v.get(part))
        .cloned();
    by_path.or_else(|| facts.get("facts")?.get(&key).cloned())
}

/// Agents grouped by the text of a fact; agents without it (or with an empty value) are
/// left out. Numbers and booleans group by their JSON text.
pub fn group_by_fact(agents: Vec<AgentInfo>, key: &str) -> BTreeMap<String, Vec<AgentInfo>> {
    let mut groups: BTreeMap<String, Vec<AgentInfo>> = BTreeMap::new();
    for agent in agents {
        let text = match fact(&agent, key) {
            Some(Value::String(s)) => s,
            Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
            _ => continue,
        };
        if !text.is_empty() {
            groups.entry(text).or_default().push(agent);
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conditions::Condition;
    use crate::wire::facts::{Facts, OsFacts};

    fn agent(host: &str, distro: &str, cpus: usize, mem: u64) -> AgentInfo {
        AgentInfo {
            hostname: host.into(),
            labels: BTreeMap::from([("group".into(), "web".into())]),
            status: "Ready".into(),
            state: "Ready".into(),
            facts: Some(Facts {
                hostname: host.into(),
                architecture: "x86_64".into(),
                cpu_count: cpus,
                memory_total: mem,
                os: Some(OsFacts {
                    distribution: distro.into(),
                    version: "24.04".into(),
                }),
                service_mgr: "systemd".into(),
                custom: BTreeMap::from([("rack".into(), "r1".into())]),
                ..Facts::default()
            }),
            ..AgentInfo::default()
        }
    }

    #[test]
    fn predicates_match_facts_labels_and_conditions() {
        let mut a = agent("a", "Ubuntu", 4, 8 << 30);
        assert!(os("ubuntu").matches(&a));
        assert!(!os("debian").matches(&a));
        assert!(arch("X86_64").matches(&a));
        assert!(min_cpu(4).matches(&a) && !min_cpu(5).matches(&a));
        assert!(min_memory(8 << 30).matches(&a) && !min_memory((8 << 30) + 1).matches(&a));
        assert!(has_label("group", "web").matches(&a));
        assert!(!has_label("group", "").matches(&a));
        assert!(fact_equals("cpu_count", 4).matches(&a));
        assert!(fact_equals("os.version", "24.04").matches(&a));
        assert!(fact_equals("service_manager", "systemd").matches(&a));
        assert!(fact_equals("rack", "r1").matches(&a));
        assert!(fact_equals("hostname", "a").matches(&a));
        assert!(fact_equals("os.distribution", "Ubuntu").matches(&a));
        assert!(healthy().matches(&a) && no_condition("DiskPressure").matches(&a));
        a.conditions.push(Condition {
            kind: "DiskPressure".into(),
            status: true,
            reason: String::new(),
            last_transition_time: String::new(),
        });
        assert!(has_condition("diskpressure").matches(&a));
        assert!(!healthy().matches(&a) && !no_condition("DiskPressure").matches(&a));
        assert!(!has_condition("HighLoad").matches(&a));
    }

    #[test]
    fn predicates_compose() {
        let a = agent("a", "Ubuntu", 2, 1 << 30);
        assert!(os("ubuntu").and(min_cpu(2)).matches(&a));
        assert!(!os("ubuntu").and(min_cpu(8)).matches(&a));
        assert!(os("debian").or(min_cpu(2)).matches(&a));
        assert!(os("debian").not().matches(&a));
        assert!(match_all(&a, &[]));
        assert!(!match_all(&a, &[os("ubuntu"), os("debian")]));
        let mut no_facts = a.clone();
        no_facts.facts = None;
        assert!(!os("ubuntu").matches(&no_facts) && !min_cpu(0).matches(&no_facts));
    }

    #[test]
    fn grouping_by_fact_drops_agents_without_it() {
        let mut c = agent("c", "", 2, 0);
        if let Some(f) = c.facts.as_mut() {
            f.os = None;
        }
        let groups = group_by_fact(
            vec![agent("a", "Ubuntu", 2, 0), agent("b", "Debian", 4, 0), c],
            "os.distribution",
        );
        let names: Vec<(&str, usize)> = groups.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
        assert_eq!(names, vec![("Debian", 1), ("Ubuntu", 1)]);
        let by_cpu = group_by_fact(
            vec![agent("a", "x", 2, 0), agent("b", "y", 2, 0)],
            "cpu_count",
        );
        assert_eq!(by_cpu["2"].len(), 2);
    }
}
