//! Operation forms generated from the catalogue (`wire::ops::CATALOGUE`) and the request
//! schemas of the controller's OpenAPI description: every operation has a form the day
//! it is declared, and the submitted fields become the API request by the same schema.

use std::collections::BTreeMap;

use maud::{html, Markup};
use serde_json::{Map, Value};

use super::{view, Session, UiError};
use crate::auth::Permission;
use crate::job::OpKind;
use crate::wire::ops::{path_params, Method, CATALOGUE};

/// Every operation's form, in catalogue order.
pub struct Catalogue {
    ops: Vec<OpForm>,
}

/// One operation and the fields of its request.
pub struct OpForm {
    pub name: &'static str,
    pub kind: OpKind,
    pub method: Method,
    pub path: &'static str,
    pub permission: Permission,
    pub tag: String,
    pub summary: String,
    pub fields: Vec<Field>,
}

/// One request field.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The request's name for it; empty for a body that is not an object of fields.
    pub name: String,
    pub place: Place,
    pub kind: Kind,
    pub required: bool,
    pub description: String,
}

/// Where a field travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Path,
    Query,
    Body,
}

/// How a field is entered and turned into JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Text,
    Integer,
    Number,
    Bool,
    Choice(Vec<String>),
    /// An array of scalars, one per line.
    Lines(Box<Kind>),
    /// Anything else, entered as JSON.
    Json,
}

/// The form field name of request field `name`.
fn input_name(name: &str) -> String {
    format!("f.{name}")
}

impl Catalogue {
    /// Reads each catalogue operation's parameters and request schema from `doc`.
    pub fn from_openapi(doc: &Value) -> Self {
        let ops = CATALOGUE
            .iter()
            .map(|info| {
                let method = info.method.as_str().to_ascii_lowercase();
                let operation = &doc["paths"][format!("/api{}", info.path)][method.as_str()];
                OpForm {
                    name: info.name,
                    kind: info.kind,
                    method: info.method,
                    path: info.path,
                    permission: info.permission,
                    tag: operation["tags"][0].as_str().unwrap_or("other").to_owned(),
                    summary: operation["summary"].as_str().unwrap_or_default().to_owned(),
                    fields: fields(doc, info.path, operation),
                }
            })
            .collect();
        Self { ops }
    }

    pub fn get(&self, name: &str) -> Option<&OpForm> {
        self.ops.iter().find(|o| o.name == name)
    }

    /// The operations `session` may run.
    pub fn allowed<'a>(&'a self, session: &'a Session) -> impl Iterator<Item = &'a OpForm> {
        self.ops.iter().filter(|o| session.may(o.permission))
    }

    /// Whether `session` may run any operation (the Operations page is shown).
    pub fn any_allowed(&self, session: &Session) -> bool {
        self.allowed(session).next().is_some()
    }
}

fn fields(doc: &Value, path: &str, operation: &Value) -> Vec<Field> {
    let mut fields: Vec<Field> = Vec::new();
    let parameters = operation["parameters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for p in &parameters {
        let name = p["name"].as_str().unwrap_or_default();
        let place = match p["in"].as_str() {
            _ if name == "hostname" => continue,
            Some("path") => Place::Path,
            Some("query") => Place::Query,
            _ => continue,
        };
        fields.push(Field {
            name: name.to_owned(),
            place,
            kind: kind_of(doc, &p["schema"]),
            required: p["required"].as_bool().unwrap_or(place == Place::Path),
            description: p["description"].as_str().unwrap_or_default().to_owned(),
        });
    }
    // A path parameter the description left out is still a text field.
    for name in path_params(path).filter(|n| *n != "hostname") {
        if !fields.iter().any(|f| f.name == name) {
            fields.push(Field {
                name: name.to_owned(),
                place: Place::Path,
                kind: Kind::Text,
                required: true,
                description: String::new(),
            });
        }
    }
    let body = resolve(
        doc,
        &operation["requestBody"]["content"]["application/json"]["schema"],
    );
    if !body.is_null() {
        body_fields(doc, body, &mut fields);
    }
    fields
}

fn body_fields(doc: &Value, schema: &Value, fields: &mut Vec<Field>) {
    let Some(properties) = schema["properties"].as_object() else {
        // Not an object of fields (a union, say): the whole body as JSON.
        if schema.get("oneOf").is_some() || schema.get("anyOf").is_some() {
            fields.push(Field {
                name: String::new(),
                place: Place::Body,
                kind: Kind::Json,
                required: true,
                description: "the request body".into(),
            });
        }
        return;
    };
    let required: Vec<&str> = schema["required"]
        .as_array()
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    // Required fields first, then by name (whatever order the description kept).
    let mut names: Vec<&String> = properties.keys().collect();
    names.sort_by_key(|n| (!required.contains(&n.as_str()), n.as_str()));
    for name in names {
        // A path parameter of the same name wins, as in the API.
        if fields.iter().any(|f| &f.name == name) {
            continue;
        }
        let property = &properties[name];
        let property = resolve(doc, property);
        fields.push(Field {
            name: name.clone(),
            place: Place::Body,
            kind: kind_of(doc, property),
            required: required.contains(&name.as_str()),
            description: property["description"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        });
    }
}

/// Follows a `$ref` to `#/components/schemas/...`.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        Some(name) => resolve(doc, &doc["components"]["schemas"][name]),
        None => schema,
    }
}

fn kind_of(doc: &Value, schema: &Value) -> Kind {
    let schema = resolve(doc, schema);
    for union in ["oneOf", "anyOf", "allOf"] {
        if let Some(variants) = schema[union].as_array() {
            let real: Vec<&Value> = variants.iter().filter(|v| v["type"] != "null").collect();
            return match real.as_slice() {
                [only] => kind_of(doc, only),
                _ => Kind::Json,
            };
        }
    }
    if let Some(choices) = schema["enum"].as_array() {
        return Kind::Choice(
            choices
                .iter()
                .filter_map(|c| c.as_str().map(str::to_owned))
                .collect(),
        );
    }
    let ty = match &schema["type"] {
        Value::String(t) => t.as_str(),
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("object"),
        _ => "object",
    };
    match ty {
        "string" => Kind::Text,
        "integer" => Kind::Integer,
        "number" => Kind::Number,
        "boolean" => Kind::Bool,
        "array" => match kind_of(doc, &schema["items"]) {
            item @ (Kind::Text | Kind::Integer | Kind::Number | Kind::Choice(_)) => {
                Kind::Lines(Box::new(item))
            }
            _ => Kind::Json,
        },
        _ => Kind::Json,
    }
}

/// The API path (with query) and JSON body an operation's submitted form asks for.
pub struct Request {
    pub path: String,
    pub body: Option<Value>,
}

impl OpForm {
    /// Turns the submitted fields (`f.<name>`) into the API request on `target`.
    pub fn request(
        &self,
        target: &str,
        values: &BTreeMap<String, String>,
    ) -> Result<Request, UiError> {
        let mut path = self.path.replace("{hostname}", &view::path_segment(target));
        let mut query = Vec::new();
        let mut body = Map::new();
        for field in &self.fields {
            let raw = values
                .get(&input_name(&field.name))
                .map(|s| s.trim())
                .unwrap_or("");
            let Some(value) = field.value(raw)? else {
                continue;
            };
            match field.place {
                Place::Path => {
                    let text = value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned);
                    path = path.replace(&format!("{{{}}}", field.name), &view::path_segment(&text));
                }
                Place::Query => {
                    let text = value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned);
                    query.push(format!(
                        "{}={}",
                        view::query_value(&field.name),
                        view::query_value(&text)
                    ));
                }
                Place::Body if field.name.is_empty() => {
                    return Ok(Request {
                        path,
                        body: Some(value),
                    })
                }
                Place::Body => {
                    body.insert(field.name.clone(), value);
                }
            }
        }
        if !query.is_empty() {
            path = format!("{path}?{}", query.join("&"));
        }
        let has_body = matches!(self.method, Method::Post | Method::Put);
        Ok(Request {
            path,
            body: has_body.then_some(Value::Object(body)),
        })
    }

    /// Whether the operation changes hosts (writes to `_all` are confirmed first).
    pub fn changes(&self) -> bool {
        self.kind == OpKind::Modify
    }
}

impl Field {
    /// The JSON value of what was entered; `None` for an empty optional field.
    fn value(&self, raw: &str) -> Result<Option<Value>, UiError> {
        if raw.is_empty() {
            return match self.required && self.place == Place::Path {
                true => Err(self.bad("required")),
                false => Ok(None),
            };
        }
        if let Kind::Lines(item) = &self.kind {
            let items = raw
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|l| self.scalar(item, l))
                .collect::<Result<Vec<_>, _>>()?;
            return Ok(Some(Value::Array(items)));
        }
        self.scalar(&self.kind, raw).map(Some)
    }

    fn scalar(&self, kind: &Kind, raw: &str) -> Result<Value, UiError> {
        Ok(match kind {
            Kind::Integer => raw
                .parse::<i64>()
                .map_err(|_| self.bad(&format!("{raw:?} is not a whole number")))?
                .into(),
            Kind::Number => raw
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| self.bad(&format!("{raw:?} is not a number")))?,
            Kind::Bool => match raw {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                _ => return Err(self.bad("choose true or false")),
            },
            Kind::Json => {
                serde_json::from_str(raw).map_err(|e| self.bad(&format!("not JSON: {e}")))?
            }
            Kind::Text | Kind::Choice(_) | Kind::Lines(_) => Value::String(raw.to_owned()),
        })
    }

    fn bad(&self, message: &str) -> UiError {
        UiError::BadField {
            field: if self.name.is_empty() {
                "body".into()
            } else {
                self.name.clone()
            },
            message: message.to_owned(),
        }
    }

    /// The field's input.
    pub fn input(&self) -> Markup {
        let name = input_name(&self.name);
        let id = format!(
            "field-{}",
            if self.name.is_empty() {
                "body"
            } else {
                &self.name
            }
        );
        let label = if self.name.is_empty() {
            "body (JSON)"
        } else {
            &self.name
        };
        let required = self.required && self.place == Place::Path;
        html! {
            div.field {
                label for=(id) {
                    (label) @if self.required { " *" }
                    @if !self.description.is_empty() { small { " " (self.description) } }
                }
                @match &self.kind {
                    Kind::Bool => select id=(id) name=(name) {
                        option value="" { "—" } option value="true" { "true" } option value="false" { "false" }
                    },
                    Kind::Choice(choices) => select id=(id) name=(name) {
                        option value="" { "—" }
                        @for c in choices { option value=(c) { (c) } }
                    },
                    Kind::Integer | Kind::Number => input id=(id) name=(name) type="number" step="any" required[required];,
                    Kind::Lines(_) => textarea id=(id) name=(name) rows="3" placeholder="one per line" {},
                    Kind::Json => textarea id=(id) name=(name) rows="4" placeholder="JSON" {},
                    Kind::Text => input id=(id) name=(name) type="text" required[required];,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        serde_json::json!({
            "paths": {"/api/x/{hostname}/thing/{name}": {"put": {
                "tags": ["x"], "summary": "Change a thing",
                "parameters": [
                    {"name": "hostname", "in": "path", "required": true, "schema": {"type": "string"}},
                    {"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}
                ],
                "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Req"}}}}
            }}},
            "components": {"schemas": {
                "Req": {"type": "object", "required": ["count"], "properties": {
                    "count": {"type": "integer"},
                    "ratio": {"type": ["number", "null"]},
                    "on": {"type": "boolean"},
                    "mode": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/Mode"}]},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "extra": {"type": "object"},
                    "name": {"type": "string"}
                }},
                "Mode": {"type": "string", "enum": ["a", "b"]}
            }}
        })
    }

    fn form() -> OpForm {
        let doc = doc();
        let operation = &doc["paths"]["/api/x/{hostname}/thing/{name}"]["put"];
        OpForm {
            name: "x.thing.update",
            kind: OpKind::Modify,
            method: Method::Put,
            path: "/x/{hostname}/thing/{name}",
            permission: Permission::NodeWrite,
            tag: "x".into(),
            summary: String::new(),
            fields: fields(&doc, "/x/{hostname}/thing/{name}", operation),
        }
    }

    #[test]
    fn fields_follow_the_schema() {
        let kinds: Vec<(String, Place, Kind)> = form()
            .fields
            .into_iter()
            .map(|f| (f.name, f.place, f.kind))
            .collect();
        let expect = |n: &str, p, k| (n.to_owned(), p, k);
        assert_eq!(
            kinds,
            [
                expect("name", Place::Path, Kind::Text),
                expect("count", Place::Body, Kind::Integer),
                expect("extra", Place::Body, Kind::Json),
                expect(
                    "mode",
                    Place::Body,
                    Kind::Choice(vec!["a".into(), "b".into()])
                ),
                expect("on", Place::Body, Kind::Bool),
                expect("ratio", Place::Body, Kind::Number),
                expect("tags", Place::Body, Kind::Lines(Box::new(Kind::Text))),
            ]
        );
    }

    #[test]
    fn submitted_fields_become_the_request() {
        let values: BTreeMap<String, String> = [
            ("f.name", "a b"),
            ("f.count", "3"),
            ("f.on", "false"),
            ("f.tags", "x\n\n y \n"),
            ("f.extra", r#"{"k": 1}"#),
            ("f.ratio", ""),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let r = form().request("group:web", &values).expect("request");
        assert_eq!(r.path, "/x/group%3Aweb/thing/a%20b");
        assert_eq!(
            r.body,
            Some(
                serde_json::json!({"count": 3, "on": false, "tags": ["x", "y"], "extra": {"k": 1}})
            )
        );
    }

    #[test]
    fn a_bad_entry_names_its_field() {
        let values: BTreeMap<String, String> = [
            ("f.name".to_owned(), "n".to_owned()),
            ("f.count".to_owned(), "three".to_owned()),
        ]
        .into_iter()
        .collect();
        match form().request("_all", &values) {
            Err(UiError::BadField { field, .. }) => assert_eq!(field, "count"),
            other => panic!("{:?}", other.map(|r| r.path)),
        }
        let missing = form().request("_all", &BTreeMap::new());
        assert!(matches!(missing, Err(UiError::BadField { field, .. }) if field == "name"));
    }

    #[test]
    fn every_catalogue_operation_has_a_form_from_the_real_description() {
        use std::sync::Arc;
        let auth = crate::auth::Authenticator::new(
            "test-signing-key-0123456789abcdef",
            &Default::default(),
        )
        .expect("auth");
        let state = crate::controller::state::AppState::new(
            Arc::new(crate::config::Config::default()),
            Arc::new(auth),
            Arc::new(crate::controller::notify::LogNotifier),
        );
        let operations = crate::controller::api::ops::router(&state).finish().1;
        let doc = crate::controller::openapi::document(operations);
        let doc = serde_json::to_value(doc).expect("json");
        let catalogue = Catalogue::from_openapi(&doc);
        assert_eq!(catalogue.ops.len(), CATALOGUE.len());
        for op in &catalogue.ops {
            assert!(
                !op.summary.is_empty(),
                "{} is not in the description",
                op.name
            );
            for name in path_params(op.path).filter(|n| *n != "hostname") {
                assert!(
                    op.fields.iter().any(|f| f.name == name),
                    "{}: {name}",
                    op.name
                );
            }
        }
        let update = catalogue
            .get("node.hostname.update")
            .expect("hostname update");
        assert!(
            update.fields.iter().any(|f| f.place == Place::Body),
            "{:?}",
            update.fields
        );
    }
}
