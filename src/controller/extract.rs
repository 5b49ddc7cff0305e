//! Request extractors whose failures are the API's own 400s, naming the field at fault.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::error::ApiError;

pub use crate::wire::{is_fact_ref, Validate};

/// A JSON body: parsed with the path of any error (`servers[1]`), then validated.
pub struct ValidJson<T>(pub T);

impl<S, T> FromRequest<S> for ValidJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|e| ApiError::bad_request("body", format!("cannot read body: {e}")))?;
        if bytes.is_empty() {
            return Err(ApiError::bad_request("body", "a JSON body is required"));
        }
        let value: T = parse_json(&bytes)?;
        value.validate()?;
        Ok(Self(value))
    }
}

/// Parses a JSON body, naming the field of any error (`servers[1]`). A NUL character
/// in a string is refused here: it would be cut off or refused further down (C strings,
/// file names, argument vectors), and the agent is no place to find that out.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.windows(6).any(|w| w == br"\u0000") {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| ApiError::bad_request("body", format!("invalid body: {e}")))?;
        if let Some(field) = nul_in(&value, String::new()) {
            let field = if field.is_empty() {
                "body".into()
            } else {
                field
            };
            return Err(ApiError::bad_request(
                &field,
                format!("invalid {field}: NUL characters (\\u0000) are not allowed"),
            ));
        }
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(named_error)
}

/// The path (`env.KEY`, `args[2]`) of the first string or key holding a NUL, if any.
fn nul_in(value: &serde_json::Value, path: String) -> Option<String> {
    use serde_json::Value;
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::String(s) => s.contains('\0').then_some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_in(v, format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                Some(join(k))
            } else {
                nul_in(v, join(k))
            }
        }),
        _ => None,
    }
}

/// Answers 415 to a request with a body that is not JSON (multipart uploads aside): a
/// form or text body is the client's mistake, not something to guess at.
pub async fn require_json_bodies(req: Request, next: axum::middleware::Next) -> Response {
    if has_body(&req) && !json_or_multipart(req.headers()) {
        let sent = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("none");
        return ApiError::UnsupportedMediaType(format!(
            "the body must be JSON, sent with Content-Type: application/json (got {sent})"
        ))
        .into_response();
    }
    next.run(req).await
}

fn has_body(req: &Request) -> bool {
    let headers = req.headers();
    let length = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match length {
        Some(n) => n > 0,
        None => headers.contains_key(TRANSFER_ENCODING),
    }
}

fn json_or_multipart(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
        || essence == "multipart/form-data"
}

/// Deserialises an already parsed value, naming the field of any error.
pub fn from_value_named<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(named_error)
}

fn named_error<E: std::fmt::Display>(err: serde_path_to_error::Error<E>) -> ApiError {
    let path = err.path().to_string();
    let inner = err.into_inner();
    let field = if path == "." {
        missing_or_unknown_field(&inner.to_string()).unwrap_or_else(|| "body".into())
    } else {
        path
    };
    ApiError::bad_request(&field, format!("invalid {field}: {inner}"))
}

/// serde reports missing and unknown fields at the parent: pull the name out.
fn missing_or_unknown_field(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_owned())
}

/// A path parameter whose extraction error is the API's 400.
pub struct PathParam<T>(pub T);

impl<S, T> FromRequestParts<S> for PathParam<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e| ApiError::bad_request("path", e.body_text()))
    }
}

/// Paging parameters `limit` (1..=`max`, default `default_limit`) and `offset`, with 400s
/// naming the parameter.
pub fn paging(
    query: &std::collections::HashMap<String, String>,
    default_limit: usize,
    max: usize,
) -> Result<(usize, usize), ApiError> {
    let number = |key: &str, default: usize| {
        query.get(key).map_or(Ok(default), |v| {
            match v.parse::<usize>() {
                Ok(n) => Ok(n),
                // Past every page (the document sets no upper bound on an offset).
                Err(e) if *e.kind() == std::num::IntErrorKind::PosOverflow => Ok(usize::MAX),
                Err(_) => Err(ApiError::bad_request(
                    key,
                    format!("{key} must be a non-negative integer"),
                )),
            }
        })
    };
    let limit = number("limit", default_limit)?;
    if !(1..=max).contains(&limit) {
        return Err(ApiError::bad_request(
            "limit",
            format!("limit must be between 1 and {max}"),
        ));
    }
    Ok((limit, number("offset", 0)?))
}

/// A UUID in its hyphenated form (the one the document's pattern names), lower-cased.
pub fn uuid_param(raw: &str) -> Option<String> {
    let id = (raw.len() == 36).then(|| uuid::Uuid::try_parse(raw).ok())??;
    Some(id.to_string())
}

/// The state and the one path parameter of a `/<resource>/{name}` handler.
pub struct Named(pub super::state::AppState, pub String);

impl FromRequestParts<super::state::AppState> for Named {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &super::state::AppState,
    ) -> Result<Self, Self::Rejection> {
        let PathParam(name) = PathParam::<String>::from_request_parts(parts, state).await?;
        Ok(Self(state.clone(), name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_from_serde_messages() {
        assert_eq!(
            missing_or_unknown_field("missing field `address`").as_deref(),
            Some("address")
        );
        assert_eq!(
            missing_or_unknown_field("unknown field `adress`, expected `address`").as_deref(),
            Some("adress")
        );
    }
}
