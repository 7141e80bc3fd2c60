//! The OpenAPI document, generated from the handlers' annotations and the
//! protocol types, served at `/api/openapi.json`.

use crate::http::{attachments, auth, contexts, keys, messages, ops, sessions};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "DMP secure messaging — companion server", description = "Patient–doctor messaging attached to one ordonnance or examen of the DMP. Every failure is {\"error\":{\"code\",\"message\"}}."),
    paths(
        auth::login, auth::refresh, auth::logout, auth::me,
        keys::prelogin, keys::change_password, keys::my_keys, keys::put_my_keys, keys::user_keys,
        contexts::list,
        messages::history, messages::send, messages::mark_read, messages::delete, messages::export,
        sessions::create, sessions::archive, sessions::permissions, sessions::stats, sessions::notifications,
        attachments::upload, attachments::download,
        crate::ws::upgrade,
        ops::healthz, ops::readyz, ops::openapi,
    ),
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
                    .build(),
            ),
        );
    }
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
