//! The OpenAPI document, generated from the handlers' annotations and the
//! protocol types, served at `/api/openapi.json`.
//!
//! The annotations say what each handler itself answers. This module adds
//! what every route shares (the statuses of the extractors, of
//! authentication, of the router and of the rate limits and quotas that
//! wrap handlers) and what depends on the running server's configuration
//! (message length, attachments per message), so that the document a server
//! serves describes that server, status codes included (`docs/openapi.md`).
//! `server/tests/openapi_conformance.rs` holds it to that with schemathesis.

use crate::config::Config;
use crate::http::{absence, attachments, auth, contexts, keys, messages, ops, sessions, templates};
use dmp_protocol::*;
use serde_json::{json, Map, Value};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "DMP secure messaging — companion server", description = "Patient–doctor messaging attached to one ordonnance or examen of the DMP. Every failure is {\"error\":{\"code\",\"message\"}}; the code is stable, the message is for people."),
    paths(
        auth::login, auth::refresh, auth::logout, auth::me,
        keys::prelogin, keys::change_password, keys::my_keys, keys::put_my_keys, keys::user_keys,
        contexts::list,
        messages::history, messages::send, messages::mark_read, messages::delete, messages::export,
        absence::get, absence::put, absence::delete, absence::get_hours, absence::put_hours, absence::delete_hours,
        templates::get, templates::put,
        sessions::create, sessions::archive, sessions::close, sessions::reopen, sessions::access_log, sessions::permissions, sessions::stats, sessions::notifications,
        attachments::upload, attachments::download,
        crate::ws::upgrade,
        ops::healthz, ops::readyz, ops::limits, ops::openapi,
    ),
    components(schemas(
        UserId, ContextId, SessionId, MessageId, ClientMessageId, AttachmentId, NotificationId,
        UserType, ContextType, MessageType, MessageStatus, SessionStatus, ErrorCode, ErrorBody,
        SystemEventKind, CloseReason, SystemEvent, AccessAction,
    )),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "keys"), (name = "contexts"), (name = "messages"), (name = "sessions"), (name = "attachments"), (name = "realtime"), (name = "ops"))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "Access token from `POST /api/auth/login` or `/api/auth/refresh`",
                    ))
                    .build(),
            ),
        );
    }
}

/// Statuses that layers around the handlers add to some operations: the
/// per-source and per-user rate limits, the upload quota, the WebSocket
/// caps. `(method, path, status, what)`.
const LAYER_STATUSES: &[(&str, &str, u16, &str)] = &[
    (
        "post",
        "/api/auth/login",
        429,
        "RATE_LIMIT_EXCEEDED: too many attempts for this account or from this address",
    ),
    (
        "post",
        "/api/auth/prelogin",
        429,
        "RATE_LIMIT_EXCEEDED: too many requests from this address",
    ),
    (
        "post",
        "/api/auth/refresh",
        429,
        "RATE_LIMIT_EXCEEDED: too many requests from this address",
    ),
    (
        "post",
        "/api/messaging/send",
        429,
        "RATE_LIMIT_EXCEEDED: too many messages; see Retry-After",
    ),
    (
        "post",
        "/api/messaging/attachments",
        403,
        "CONTEXT_ACCESS_DENIED: this account may not upload (administrators)",
    ),
    (
        "post",
        "/api/messaging/attachments",
        413,
        "VALIDATION_FAILED: the file, or the caller's upload quota, is too large",
    ),
    (
        "post",
        "/api/messaging/attachments",
        429,
        "RATE_LIMIT_EXCEEDED: too many uploads; see Retry-After",
    ),
    (
        "get",
        "/api/messaging/ws",
        400,
        "VALIDATION_FAILED: not a WebSocket upgrade request",
    ),
    (
        "get",
        "/api/messaging/ws",
        429,
        "RATE_LIMIT_EXCEEDED: too many sockets for this user or this address, or too many upgrades",
    ),
];

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The document as this server serves it.
pub fn document(config: &Config) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_else(|_| json!({}));
    doc["openapi"] = json!("3.1.0");
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            for method in METHODS {
                if let Some(op) = item.get_mut(method) {
                    complete_responses(method, path, op);
                }
            }
        }
    }
    apply_limits(&mut doc, config);
    doc
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    })
}

/// Adds the statuses every operation of its kind can answer, unless the
/// handler's annotation already describes them more precisely.
fn complete_responses(method: &str, path: &str, op: &mut Value) {
    let has_body = op.get("requestBody").is_some();
    let has_params = op
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    let secured = op
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| !s.is_empty());
    let mut add: Vec<(u16, String)> = Vec::new();
    if has_body || has_params {
        add.push((
            400,
            "VALIDATION_FAILED: a parameter or the body breaks a rule (the message names the field)"
                .into(),
        ));
    }
    if secured {
        add.push((
            401,
            "AUTH_REQUIRED or SESSION_EXPIRED: missing, invalid, expired or revoked access token"
                .into(),
        ));
    }
    if path.contains('{') {
        add.push((
            404,
            "NOT_FOUND: no such resource, or no route (an empty path segment)".into(),
        ));
    }
    if has_body {
        add.push((
            413,
            "VALIDATION_FAILED: the body is larger than this server accepts".into(),
        ));
        add.push((
            415,
            "VALIDATION_FAILED: the Content-Type is not the documented one".into(),
        ));
    }
    for (m, p, status, what) in LAYER_STATUSES {
        if *m == method && *p == path {
            add.push((*status, (*what).into()));
        }
    }
    if path.starts_with("/api/") {
        add.push((
            500,
            "INTERNAL: something failed on the server; nothing more is said".into(),
        ));
    }
    let Some(responses) = op
        .as_object_mut()
        .map(|o| o.entry("responses").or_insert_with(|| json!({})))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (status, what) in add {
        let key = status.to_string();
        if responses.contains_key(&key) {
            continue;
        }
        let mut response = error_response(&what);
        if status == 429 {
            response["headers"] = json!({
                "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer", "minimum": 1}}
            });
        }
        responses.insert(key, response);
    }
}

/// The parts of the request schemas that come from the configuration.
fn apply_limits(doc: &mut Value, config: &Config) {
    let limits = &config.limits;
    let schemas = &mut doc["components"]["schemas"];
    let send = &mut schemas["SendRequest"]["properties"];
    if config.require_e2e {
        send["content"] = json!({
            "type": "string",
            "minLength": 1,
            "maxLength": limits.max_envelope_bytes,
            "pattern": format!("^{}", regex_escape(dmp_protocol::limits::ENVELOPE_PREFIX)),
            "description": "An end-to-end encrypted envelope (this server refuses clear text). May be empty only when `attachments` is not."
        });
    } else {
        send["content"] = json!({
            "type": "string",
            "minLength": 1,
            "maxLength": limits.max_message_length,
            "description": format!(
                "Clear text of at most {} characters, or an end-to-end encrypted envelope (`{}…`) of at most {} bytes. May be empty only when `attachments` is not.",
                limits.max_message_length,
                dmp_protocol::limits::ENVELOPE_PREFIX,
                limits.max_envelope_bytes
            )
        });
    }
    if let Some(a) = send.get_mut("attachments").and_then(Value::as_object_mut) {
        a.insert("maxItems".into(), json!(limits.max_attachments));
        a.insert("uniqueItems".into(), json!(true));
    }
    // authSecret, salt and kdf switch the login together or not at all.
    if let Some(put) = schemas
        .get_mut("PutKeysRequest")
        .and_then(Value::as_object_mut)
    {
        put.insert(
            "dependentRequired".into(),
            json!({
                "authSecret": ["salt", "kdf"],
                "salt": ["authSecret", "kdf"],
                "kdf": ["authSecret", "salt"]
            }),
        );
    }
    let mut types: Vec<String> = limits.allowed_file_types.clone();
    types.push("enc".into());
    let upload = &mut doc["paths"]["/api/messaging/attachments"]["post"]["requestBody"];
    if let Some(body) = upload.as_object_mut() {
        body.insert(
            "description".into(),
            json!(format!(
                "One part named `file` whose file name ends in {}; its bytes must be of that type{} and at most {} bytes.",
                types.iter().map(|t| format!(".{t}")).collect::<Vec<_>>().join(", "),
                if config.require_e2e { " (this server accepts only encrypted .enc containers)" } else { "" },
                limits.max_file_size
            )),
        );
    }
}

/// Escapes the regular-expression metacharacters of a literal.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Every `(method, path, operation)` of a document.
pub fn operations(doc: &Value) -> Vec<(String, String, &Map<String, Value>)> {
    let mut out = Vec::new();
    if let Some(paths) = doc["paths"].as_object() {
        for (path, item) in paths {
            for method in METHODS {
                if let Some(op) = item.get(method).and_then(Value::as_object) {
                    out.push((method.to_owned(), path.clone(), op));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        document(&Config::default())
    }

    /// Every enum schema lists the values as they are on the wire.
    #[test]
    fn enums_are_documented_as_on_the_wire() {
        let d = doc();
        let schemas = &d["components"]["schemas"];
        let expect = |name: &str, values: &[&str]| {
            let got: Vec<&str> = schemas[name]["enum"]
                .as_array()
                .unwrap_or_else(|| panic!("{name} is not an enum: {}", schemas[name]))
                .iter()
                .filter_map(Value::as_str)
                .collect();
            assert_eq!(got, values, "{name}");
        };
        expect("UserType", &["patient", "medecin", "admin", "system"]);
        expect(
            "SystemEventKind",
            &["closed", "reopened", "absent", "outside_hours"],
        );
        expect(
            "Weekday",
            &[
                "monday",
                "tuesday",
                "wednesday",
                "thursday",
                "friday",
                "saturday",
                "sunday",
            ],
        );
        expect(
            "CloseReason",
            &["answered", "consultation", "contact_practice", "other"],
        );
        expect("ContextType", &["ordonnance", "examen"]);
        expect("MessageType", &["text", "image", "file", "voice", "system"]);
        expect("MessageStatus", &["sent", "delivered", "read"]);
        expect("SessionStatus", &["active", "archived", "closed"]);
        let text = d.to_string();
        for rust_name in ["\"Ordonnance\"", "\"Patient\"", "\"Medecin\"", "\"Examen\""] {
            assert!(
                !text.contains(rust_name),
                "{rust_name} leaks into the document"
            );
        }
        assert_eq!(schemas["ContextType"]["type"], "string");
    }

    /// Path ids carry the pattern the server checks with `is_valid_id`.
    #[test]
    fn ids_have_the_server_pattern() {
        let d = doc();
        let pattern = d["components"]["schemas"]["UserId"]["pattern"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(pattern, ID_PATTERN);
        let op = &d["paths"]["/api/keys/{user_id}"]["get"];
        let param = &op["parameters"][0];
        assert_eq!(param["in"], "path");
        assert_eq!(param["schema"]["$ref"], "#/components/schemas/UserId");
    }

    /// Every operation documents the statuses of what wraps it.
    #[test]
    fn every_operation_documents_its_error_statuses() {
        let d = doc();
        for (method, path, op) in operations(&d) {
            let responses = op["responses"].as_object().cloned().unwrap_or_default();
            let has = |s: &str| responses.contains_key(s);
            assert!(
                responses.keys().any(|k| k.starts_with('2') || k == "101"),
                "{method} {path}: no success status"
            );
            if op.get("security").is_some() {
                assert!(has("401"), "{method} {path}: no 401");
            }
            if op.get("requestBody").is_some() {
                for s in ["400", "413", "415"] {
                    assert!(has(s), "{method} {path}: no {s}");
                }
            }
            if path.contains('{') {
                assert!(has("400") && has("404"), "{method} {path}: no 400/404");
            }
            if path.starts_with("/api/") {
                assert!(has("500"), "{method} {path}: no 500");
            }
            for (code, r) in &responses {
                // `/readyz` answers 503 with its own body; every `/api` failure is an ErrorBody.
                if path.starts_with("/api/") && (code.starts_with('4') || code.starts_with('5')) {
                    let schema = &r["content"]["application/json"]["schema"]["$ref"];
                    assert_eq!(
                        schema, "#/components/schemas/ErrorBody",
                        "{method} {path} {code} is not an ErrorBody"
                    );
                }
            }
        }
        for (path, status) in [
            ("/api/auth/login", "429"),
            ("/api/auth/prelogin", "429"),
            ("/api/auth/refresh", "429"),
            ("/api/messaging/attachments", "403"),
            ("/api/messaging/attachments", "429"),
        ] {
            assert!(
                d["paths"][path]["post"]["responses"][status].is_object(),
                "{path} lacks {status}"
            );
        }
    }

    /// The document follows the configuration it is served with.
    #[test]
    fn limits_come_from_the_configuration() {
        // Migration mode documents clear text; the default documents envelopes.
        let mut config = Config {
            require_e2e: false,
            ..Config::default()
        };
        config.limits.max_message_length = 321;
        config.limits.max_attachments = 2;
        let d = document(&config);
        let send = &d["components"]["schemas"]["SendRequest"]["properties"];
        assert_eq!(send["content"]["maxLength"], 321);
        assert_eq!(send["attachments"]["maxItems"], 2);
        assert_eq!(
            send["type"]["enum"],
            json!(["text", "image", "file", "voice"])
        );
        config.require_e2e = true;
        let d = document(&config);
        let content = &d["components"]["schemas"]["SendRequest"]["properties"]["content"];
        assert_eq!(content["pattern"], "^dmp-e2e:v1:");
        let upload = &d["paths"]["/api/messaging/attachments"]["post"]["requestBody"];
        assert!(upload["content"]["multipart/form-data"]["schema"].is_object());
        assert!(upload["description"]
            .as_str()
            .is_some_and(|s| s.contains(".enc")));
    }
}
