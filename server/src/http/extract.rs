//! Extractors whose rejections follow the error contract: every failure is
//! `VALIDATION_FAILED` (400, or 413 / 415 for size and media type) with a
//! message that names the field path and the kind of problem, never the
//! offending value (it could be health data). Paths come from
//! `serde_path_to_error`, not from parsing error text.

use crate::error::AppError;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// JSON body extractor whose failures are `VALIDATION_FAILED` (400, 413 or 415).
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(AppError::invalid(
                "expected a request with Content-Type: application/json",
            )
            .with_status(StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rej| {
            if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::invalid("request body is too large")
                    .with_status(StatusCode::PAYLOAD_TOO_LARGE)
            } else {
                AppError::invalid("request body could not be read")
            }
        })?;
        from_json_slice(&bytes).map(Json)
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `application/json` or any `application/*+json`, parameters ignored.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.split_once('/') {
        Some(("application", sub)) => sub == "json" || sub.ends_with("+json"),
        _ => false,
    }
}

/// Deserializes a JSON document; the error names where it failed, not what was there.
pub fn from_json_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, AppError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data => data_error(&path, &inner.to_string(), "field"),
            _ => AppError::invalid("request body is not valid JSON"),
        }
    })?;
    de.end()
        .map_err(|_| AppError::invalid("request body is not valid JSON"))?;
    Ok(value)
}

/// The message of a data error. serde's "missing field `x`" names a field of
/// the schema, never input, so it is kept; every other message may quote the
/// value and is replaced by the path alone.
fn data_error(path: &str, inner: &str, what: &str) -> AppError {
    let at_root = path.is_empty() || path == ".";
    if let Some(field) = inner
        .strip_prefix("missing field `")
        .and_then(|s| s.split('`').next())
    {
        return if at_root {
            AppError::invalid(format!("missing {what} `{field}`"))
        } else {
            AppError::invalid(format!("missing {what} `{path}.{field}`"))
        };
    }
    if at_root {
        AppError::invalid(format!("the {what}s do not have the expected shape"))
    } else {
        AppError::invalid(format!("{what} `{path}` has a wrong type or value"))
    }
}

/// Path extractor whose failures are `VALIDATION_FAILED`; the message names
/// the parameter.
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(AppError))]
pub struct Path<T>(pub T);

impl From<PathRejection> for AppError {
    fn from(rej: PathRejection) -> Self {
        use axum::extract::path::ErrorKind;
        let PathRejection::FailedToDeserializePathParams(e) = rej else {
            return AppError::invalid("missing path parameter");
        };
        let key = match e.kind() {
            ErrorKind::ParseErrorAtKey { key, .. }
            | ErrorKind::InvalidUtf8InPathParam { key }
            | ErrorKind::DeserializeError { key, .. } => Some(key.as_str()),
            _ => None,
        };
        match key {
            Some(key) => AppError::invalid(format!(
                "path parameter `{key}` is not valid (see the OpenAPI document for its values)"
            )),
            None => AppError::invalid("a path parameter is not valid"),
        }
    }
}

/// Query extractor whose failures are `VALIDATION_FAILED`; the message names
/// the parameter.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|e| {
                let path = e.path().to_string();
                data_error(&path, &e.into_inner().to_string(), "query parameter")
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        count: u32,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        inner: Inner,
    }

    fn message(body: &str) -> String {
        match from_json_slice::<Outer>(body.as_bytes()) {
            Ok(v) => panic!("accepted {v:?}"),
            Err(e) => e.message,
        }
    }

    #[test]
    fn json_errors_name_the_path_never_the_value() {
        assert_eq!(message("{not json"), "request body is not valid JSON");
        assert_eq!(
            message(r#"{"name":"x","inner":{"count":1}} trailing"#),
            "request body is not valid JSON"
        );
        assert_eq!(message(r#"{"inner":{"count":1}}"#), "missing field `name`");
        assert_eq!(
            message(r#"{"name":"x","inner":{}}"#),
            "missing field `inner.count`"
        );
        let m = message(r#"{"name":"x","inner":{"count":"diabète"}}"#);
        assert_eq!(m, "field `inner.count` has a wrong type or value");
        let m = message(r#"{"name":{"secret":"diabète"},"inner":{"count":1}}"#);
        assert_eq!(m, "field `name` has a wrong type or value");
        assert!(!message("[\"diabète\"]").contains("diabète"));
    }

    #[test]
    fn json_media_types() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            is_json(&h)
        };
        assert!(with("application/json"));
        assert!(with("Application/JSON; charset=utf-8"));
        assert!(with("application/problem+json"));
        assert!(!with("text/plain"));
        assert!(!with("application/jsonx"));
        assert!(!is_json(&HeaderMap::new()));
    }
}
