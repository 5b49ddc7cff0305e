//! Text rules stated once and used twice: by a request's `Validate` (the check the server
//! makes) and by its OpenAPI schema (what the document promises), so the two cannot
//! disagree.
//!
//! A rule is a regular expression over the whole value plus a length range in characters
//! (what JSON Schema's `minLength`/`maxLength` count). Patterns keep to the syntax Rust's
//! `regex`, ECMA-262 and Python agree on: explicit ASCII classes (`[0-9]`, never `\d`,
//! which is Unicode-wide in two of them), groups, `|`, bounded repeats and `^...$`.

use std::sync::OnceLock;

use regex::Regex;
use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, KnownFormat, Object, ObjectBuilder, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::{RefOr, Schema};

/// One text rule; declare it as a `static`, its regex is compiled on first use.
pub struct Text {
    pub pattern: &'static str,
    pub min: usize,
    pub max: usize,
    compiled: OnceLock<Regex>,
}

impl Text {
    pub const fn new(pattern: &'static str, min: usize, max: usize) -> Self {
        Self {
            pattern,
            min,
            max,
            compiled: OnceLock::new(),
        }
    }

    /// Whether `value` keeps the rule: its length in characters, then the pattern.
    pub fn matches(&self, value: &str) -> bool {
        let length = value.chars().count();
        (self.min..=self.max).contains(&length) && self.regex().is_some_and(|r| r.is_match(value))
    }

    /// The compiled pattern; `None` only for a pattern that does not compile, which the
    /// unit tests rule out (and which then refuses every value).
    fn regex(&self) -> Option<&Regex> {
        if let Some(r) = self.compiled.get() {
            return Some(r);
        }
        let r = Regex::new(self.pattern).ok()?;
        Some(self.compiled.get_or_init(|| r))
    }

    /// The string schema of the rule.
    pub fn schema(&self) -> Object {
        self.builder(Type::String).build()
    }

    /// The schema of an optional field (`null` or the rule).
    pub fn nullable(&self) -> Object {
        self.builder(SchemaType::from_iter([Type::String, Type::Null]))
            .build()
    }

    /// The schema of a list whose every entry keeps the rule.
    pub fn list(&self, nullable: bool) -> RefOr<Schema> {
        let mut array = ArrayBuilder::new().items(self.schema());
        if nullable {
            array = array.schema_type(SchemaType::from_iter([Type::Array, Type::Null]));
        }
        array.into()
    }

    fn builder(&self, kind: impl Into<SchemaType>) -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(kind)
            .pattern(Some(self.pattern))
            .min_length(Some(self.min))
            .max_length((self.max != usize::MAX).then_some(self.max))
    }
}

/// Declares schema functions for `#[schema(schema_with = ...)]` from a [`Text`] rule:
/// `text_schemas!(RULE => plain, nullable, list, nullable_list)`; name only those used
/// with `_` for the rest.
#[macro_export]
macro_rules! text_schemas {
    ($rule:path => $plain:tt, $nullable:tt, $list:tt, $nullable_list:tt) => {
        $crate::text_schemas!(@one $plain, schema, $rule);
        $crate::text_schemas!(@one $nullable, nullable, $rule);
        $crate::text_schemas!(@list $list, false, $rule);
        $crate::text_schemas!(@list $nullable_list, true, $rule);
    };
    (@one _, $how:ident, $rule:path) => {};
    (@one $name:ident, $how:ident, $rule:path) => {
        fn $name() -> utoipa::openapi::schema::Object {
            $rule.$how()
        }
    };
    (@list _, $nullable:expr, $rule:path) => {};
    (@list $name:ident, $nullable:expr, $rule:path) => {
        fn $name() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
            $rule.list($nullable)
        }
    };
}

/// An RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, at
/// most 63 each and 253 in all.
pub static HOST_NAME: Text = Text::new(
    r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$",
    1,
    253,
);

/// The pattern of `is_fact_ref` (a built-in fact key or `custom.` and a name), without
/// anchors, for rules that take a fact reference beside a plain value.
#[macro_export]
macro_rules! fact_ref_pattern {
    () => {
        r"@fact\.(interface\.primary|hostname|arch|kernel|fqdn|containerized|custom\.[\s\S]+)"
    };
}

/// A fact reference alone.
pub static FACT_REF: Text = Text::new(concat!("^", fact_ref_pattern!(), "$"), 1, usize::MAX);

/// An IP address (what `IpAddr` parses: IPv4 dotted quad or IPv6).
pub fn ip_address() -> RefOr<Schema> {
    let format = |f: KnownFormat| {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(f)))
    };
    AnyOfBuilder::new()
        .item(format(KnownFormat::Ipv4))
        .item(format(KnownFormat::Ipv6))
        .into()
}

/// An IP address or a fact reference.
pub fn ip_or_fact() -> RefOr<Schema> {
    let RefOr::T(Schema::AnyOf(mut any)) = ip_address() else {
        return ip_address();
    };
    any.items.push(FACT_REF.schema().into());
    RefOr::T(Schema::AnyOf(any))
}

/// A list of IP addresses; `null` too when `nullable`.
pub fn ip_list(nullable: bool) -> RefOr<Schema> {
    let mut array = ArrayBuilder::new().items(ip_address());
    if nullable {
        array = array.schema_type(SchemaType::from_iter([Type::Array, Type::Null]));
    }
    array.into()
}

/// An unsigned 32-bit integer from `minimum` (an id: `u32` would be documented as
/// `int32`, whose clients stop at 2^31 - 1); `null` too when `nullable`.
pub fn u32_from(minimum: u32, nullable: bool) -> Object {
    let kind = if nullable {
        SchemaType::from_iter([Type::Integer, Type::Null])
    } else {
        SchemaType::Type(Type::Integer)
    };
    ObjectBuilder::new()
        .schema_type(kind)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(minimum))
        .maximum(Some(u32::MAX))
        .build()
}

/// An optional id (`uid`, `gid`, a route metric).
pub fn optional_id() -> Object {
    u32_from(0, true)
}

/// An optional id that is never 0 (root's `uid`).
pub fn optional_id_not_root() -> Object {
    u32_from(1, true)
}

/// A string that is one of `values` (an enum of the document).
pub fn one_of(values: &[&str], nullable: bool) -> Object {
    let kind = if nullable {
        SchemaType::from_iter([Type::String, Type::Null])
    } else {
        SchemaType::Type(Type::String)
    };
    let mut values: Vec<Option<&str>> = values.iter().copied().map(Some).collect();
    if nullable {
        values.push(None);
    }
    ObjectBuilder::new()
        .schema_type(kind)
        .enum_values(Some(values))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    static DIGITS: Text = Text::new("^[0-9]+$", 2, 3);

    #[test]
    fn length_in_characters_then_pattern() {
        assert!(DIGITS.matches("12"));
        assert!(DIGITS.matches("123"));
        assert!(!DIGITS.matches("1"));
        assert!(!DIGITS.matches("1234"));
        assert!(!DIGITS.matches("1a"));
        assert!(!DIGITS.matches("12\n"), "$ is the end of the text");
        let schema = serde_json::to_value(DIGITS.schema()).unwrap();
        assert_eq!(schema["pattern"], "^[0-9]+$");
        assert_eq!(schema["maxLength"], 3);
    }

    #[test]
    fn the_fact_pattern_is_is_fact_ref() {
        let samples = [
            "@fact.interface.primary",
            "@fact.custom.rack",
            "@fact.custom.a b",
            "@fact.custom.",
            "@fact.containerized",
            "@fact.os",
            "@fact.hostnamex",
            "eth0",
            "",
        ];
        for s in samples {
            assert_eq!(FACT_REF.matches(s), crate::wire::is_fact_ref(s), "{s:?}");
        }
        for (key, _) in crate::wire::facts::BUILTIN_FACT_KEYS {
            assert!(FACT_REF.matches(&format!("@fact.{key}")), "{key}");
        }
    }

    #[test]
    fn host_names() {
        for good in ["a", "web-01", "a.b.c", &"a".repeat(63)] {
            assert!(HOST_NAME.matches(good), "{good}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a..b",
            "a_b",
            &"a".repeat(64),
            &"a.".repeat(127),
        ] {
            assert!(!HOST_NAME.matches(bad), "{bad}");
        }
    }
}
