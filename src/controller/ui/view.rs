//! Small renderers the pages share: JSON values as tables and cells, sizes, ages, badges.

use maud::{html, Markup};
use serde_json::Value;

/// `s` percent-encoded for a URL query value.
pub fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `s` as one URL path segment (the same encoding: no `/` survives).
pub fn path_segment(s: &str) -> String {
    query_value(s)
}

/// A table of JSON objects: one row each, the columns every key in first-seen order
/// (`leading` first when present).
pub fn table(items: &[Value], leading: &[&str]) -> Markup {
    let mut columns: Vec<String> = leading.iter().map(|c| (*c).to_owned()).collect();
    columns.retain(|c| items.iter().any(|i| i.get(c).is_some()));
    for item in items {
        if let Value::Object(map) = item {
            for key in map.keys() {
                if !columns.contains(key) {
                    columns.push(key.clone());
                }
            }
        }
    }
    html! {
        div.scroll {
            table {
                thead { tr { @for c in &columns { th { (c) } } } }
                tbody {
                    @for item in items {
                        tr data-host=[item.get("hostname").and_then(Value::as_str)] {
                            @for c in &columns { td { (cell(item.get(c).unwrap_or(&Value::Null))) } }
                        }
                    }
                }
            }
        }
    }
}

/// One value: text for scalars, compact JSON (full on hover) for the rest.
pub fn cell(v: &Value) -> Markup {
    match v {
        Value::Null => html! {},
        Value::String(s) if is_status(s) => badge(s),
        Value::String(s) => html! { (s) },
        Value::Bool(b) => html! { (if *b { "yes" } else { "no" }) },
        Value::Number(n) => html! { (n.to_string()) },
        other => {
            let text = other.to_string();
            let short: String = text.chars().take(120).collect();
            html! { code title=(text) { (short) @if short.len() < text.len() { "…" } } }
        }
    }
}

fn is_status(s: &str) -> bool {
    matches!(
        s,
        "ok" | "completed"
            | "failed"
            | "skipped"
            | "submitted"
            | "processing"
            | "partial_failure"
            | "error"
            | "Ready"
            | "Draining"
            | "Drained"
    )
}

/// A coloured word for a state or status.
pub fn badge(s: &str) -> Markup {
    html! { span class={ "badge " (s.to_ascii_lowercase()) } { (s) } }
}

/// Pretty JSON in a block.
pub fn json_block(v: &Value) -> Markup {
    let text = serde_json::to_string_pretty(v).unwrap_or_default();
    html! { pre.json { (text) } }
}

/// Bytes as KiB/MiB/GiB.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// How long ago an RFC 3339 time was: `just now`, `12s ago`, `2h 5m ago`.
pub fn age(rfc3339: &str) -> String {
    match crate::wire::health::seconds_since(rfc3339) {
        Some(0) => "just now".into(),
        Some(s) if s < 60 => format!("{s}s ago"),
        Some(s) => format!("{} ago", crate::wire::health::format_age(s)),
        None => rfc3339.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(query_value("group:web a/b"), "group%3Aweb%20a%2Fb");
        assert_eq!(query_value("web-01.x_y~"), "web-01.x_y~");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
    }

    #[test]
    fn a_table_has_the_leading_columns_first_and_a_row_per_item() {
        let items = [
            serde_json::json!({"status": "ok", "hostname": "a", "x": 1}),
            serde_json::json!({"hostname": "b", "y": {"z": true}}),
        ];
        let html = table(&items, &["hostname", "status", "absent"]).into_string();
        let header = &html[html.find("<thead>").unwrap()..html.find("</thead>").unwrap()];
        assert_eq!(
            header,
            "<thead><tr><th>hostname</th><th>status</th><th>x</th><th>y</th></tr>"
        );
        assert_eq!(html.matches("<tr data-host=").count(), 2);
        assert!(html.contains("{&quot;z&quot;:true}"), "{html}");
    }
}
