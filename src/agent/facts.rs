//! The agent's facts: collected through the facts provider, reported to the facts bucket,
//! and used for `@fact.<key>` substitution in job data.

use serde_json::Value;

use crate::wire::facts::Facts;

impl Facts {
    fn get(&self, key: &str) -> Result<&str, String> {
        let value: &str = match key {
            "hostname" => &self.hostname,
            "arch" => &self.architecture,
            "kernel" => &self.kernel_version,
            "fqdn" => &self.fqdn,
            "interface.primary" => &self.primary_interface,
            "containerized" if self.containerized => "true",
            "containerized" => "false",
            _ => match key.strip_prefix("custom.") {
                Some(k) => self
                    .custom
                    .get(k)
                    .map(String::as_str)
                    .ok_or_else(|| format!("fact @fact.{key} is not set on this host"))?,
                None => return Err(format!("unknown fact @fact.{key}")),
            },
        };
        if value.is_empty() {
            Err(format!("fact @fact.{key} is not available on this host"))
        } else {
            Ok(value)
        }
    }

    /// Replaces every `@fact.<key>` inside every string of `data`, recursively.
    pub fn resolve(&self, data: &mut Value) -> Result<(), String> {
        match data {
            Value::String(s) if s.contains("@fact.") => *s = self.substitute(s)?,
            Value::Array(items) => items.iter_mut().try_for_each(|v| self.resolve(v))?,
            Value::Object(map) => map.values_mut().try_for_each(|v| self.resolve(v))?,
            _ => {}
        }
        Ok(())
    }

    fn substitute(&self, s: &str) -> Result<String, String> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(at) = rest.find("@fact.") {
            out.push_str(&rest[..at]);
            let after = &rest[at + "@fact.".len()..];
            // A reference ends at a character that cannot be part of a fact key.
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
                .unwrap_or(after.len());
            let key = after[..end].trim_end_matches('.');
            out.push_str(self.get(key)?);
            rest = &after[key.len()..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

/// Collects facts now and every `interval`, publishing them to the facts bucket and
/// refreshing the copy used for `@fact.*`.
pub async fn report(
    ctx: std::sync::Arc<crate::agent::consumer::JobContext>,
    interval: std::time::Duration,
    cancel: tokio_util::sync::CancellationToken,
) {
    let interval = interval.max(std::time::Duration::from_secs(1));
    let key = Facts::key(&ctx.exec.hostname);
    let mut ticker = tokio::time::interval(interval);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let Ok(facts) = collect(&ctx.exec.providers, &ctx.exec.hostname).await else {
            continue;
        };
        match serde_json::to_vec(&facts) {
            Ok(body) => {
                if let Err(e) = ctx.resources.facts.put(&key, body.into()).await {
                    tracing::warn!(error = %e, "cannot publish facts");
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot encode facts"),
        }
        if let Ok(mut current) = ctx.exec.facts.write() {
            *current = facts;
        }
    }
}

/// Collects the facts through the provider, off the async workers (it reads `/proc` and
/// walks `PATH`).
pub async fn collect(
    providers: &crate::provider::Providers,
    hostname: &str,
) -> Result<Facts, tokio::task::JoinError> {
    let (facts, node, host) = (
        providers.facts.clone(),
        providers.node.clone(),
        hostname.to_owned(),
    );
    tokio::task::spawn_blocking(move || facts.collect(&host, node.as_ref())).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn facts() -> Facts {
        Facts::sample()
    }

    #[test]
    fn resolves_references_everywhere() {
        let mut data = json!({
            "interface": "@fact.interface.primary",
            "args": ["host=@fact.hostname", "@fact.arch/@fact.kernel", 3, "@fact.containerized"],
            "nested": {"x": "@fact.custom.rack."}
        });
        facts().resolve(&mut data).unwrap();
        assert_eq!(
            data,
            json!({
                "interface": "eth0",
                "args": ["host=web-01", "x86_64/6.1.0", 3, "false"],
                "nested": {"x": "r12."}
            })
        );
    }

    #[test]
    fn unknown_or_missing_facts_fail_clearly() {
        let mut data = json!("@fact.os");
        assert!(facts()
            .resolve(&mut data)
            .unwrap_err()
            .contains("unknown fact"));
        let mut data = json!("@fact.custom.zone");
        assert!(facts().resolve(&mut data).unwrap_err().contains("not set"));
        let empty = Facts::default();
        let mut data = json!("@fact.interface.primary");
        assert!(empty
            .resolve(&mut data)
            .unwrap_err()
            .contains("not available"));
    }
}
