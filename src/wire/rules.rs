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
use utoipa::openapi::schema::{ArrayBuilder, Object, ObjectBuilder, SchemaType, Type};
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
}
