//! The OpenAPI 3.1 document (`/api/openapi.json`) and Swagger UI (`/docs/`).
//!
//! Each operation documents its own success shapes and the errors only it answers;
//! [`StandardErrors`] adds the ones every operation of a kind can answer, so none is forgotten.

use actix_web::http::Method;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

use super::route_scope;
use super::schemas::ErrorBody;
use super::{
    api_keys, calls, chats, cluster, contact_card, contacts, edits, events_stream, forward, group_picture, groups,
    health, location, me, media, messages, poll, reactions, session_settings, sessions, webhook,
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "wagate",
        description = "Self-hosted WhatsApp HTTP API gateway. Authenticate with `Authorization: ApiKey <key>` \
                       (or `Bearer <key>`, or `X-Api-Key`). Success is `{success: true, data}`; every error is `{success: false, message, error, error_code}` \
                       (`ErrorBody`). Any path answers 405 `METHOD_NOT_ALLOWED` with `Allow` to a method it does not take."
    ),
    paths(
        health::health,
        health::metrics,
        me::me,
        cluster::cluster,
        api_keys::list,
        api_keys::create,
        api_keys::revoke,
        sessions::init,
        sessions::status,
        sessions::qr_code,
        sessions::logout,
        sessions::restart,
        sessions::remove,
        sessions::list,
        sessions::events,
        sessions::capabilities,
        session_settings::get_settings,
        session_settings::update_settings,
        calls::reject,
        chats::mark_read,
        chats::presence,
        chats::subscribe_presence,
        chats::get_presence,
        chats::list,
        chats::messages,
        contacts::by_lid,
        contacts::by_phone,
        contacts::list,
        contacts::get_one,
        contacts::block,
        contacts::unblock,
        groups::create,
        groups::list,
        groups::get_one,
        groups::update,
        groups::participants,
        groups::invite,
        groups::revoke_invite,
        groups::leave,
        group_picture::set_picture,
        group_picture::delete_picture,
        groups::join,
        messages::send_text,
        media::send_media,
        location::send_location,
        contact_card::send_contact,
        poll::send_poll,
        reactions::react,
        forward::forward,
        edits::edit,
        edits::revoke,
        messages::list,
        messages::get_one,
        messages::check,
        messages::media_file,
        poll::votes,
        webhook::get_webhook,
        webhook::put_webhook,
        webhook::delete_webhook,
        webhook::test_webhook,
        webhook::deliveries,
        webhook::replay,
        events_stream::stream,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Security, &StandardErrors, &OptionalBodies)
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`ApiKey wag_<id>_<secret>`",
            ))),
        );
    }
}

/// Errors any operation of a kind can answer, added where the operation does not document them
/// itself: 400 to all (a NUL in the query or path, a malformed parameter), 413 to those with a
/// body, and 401, 429 and 503 to the authenticated ones (the key check reads the database).
struct StandardErrors;

fn error_response(description: &str, header: Option<(&str, &str)>) -> RefOr<utoipa::openapi::Response> {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    );
    if let Some((name, about)) = header {
        response = response.header(name, HeaderBuilder::new().description(Some(about)).build());
    }
    RefOr::T(response.build())
}

fn add_missing(op: &mut Operation, status: &str, description: &str, header: Option<(&str, &str)>) {
    op.responses
        .responses
        .entry(status.to_string())
        .or_insert_with(|| error_response(description, header));
}

/// Every operation of every path (the methods the API uses).
fn each_operation(openapi: &mut utoipa::openapi::OpenApi, mut f: impl FnMut(&mut Operation)) {
    for item in openapi.paths.paths.values_mut() {
        let ops = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        ops.into_iter().flatten().for_each(&mut f);
    }
}

impl Modify for StandardErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        each_operation(openapi, |op| {
            add_missing(
                op,
                "400",
                "BAD_REQUEST (a malformed parameter), VALIDATION_ERROR (a NUL character in the path or query)",
                None,
            );
            if op.request_body.is_some() {
                add_missing(
                    op,
                    "413",
                    "PAYLOAD_TOO_LARGE: the body is over `server.max_json_bytes`",
                    None,
                );
            }
            if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                add_missing(
                    op,
                    "401",
                    "INVALID_API_KEY: missing, malformed, unknown or revoked",
                    Some(("WWW-Authenticate", "`ApiKey`")),
                );
                add_missing(
                    op,
                    "429",
                    "RATE_LIMITED: over the key's rate limit, or too many refused keys from this address",
                    Some(("Retry-After", "Seconds to wait")),
                );
                add_missing(op, "503", "SERVICE_UNAVAILABLE: the database does not answer", None);
            }
        });
        // 403 FORBIDDEN_SCOPE, described from the one table that decides it.
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops = [
                (Method::GET, &mut item.get),
                (Method::POST, &mut item.post),
                (Method::PUT, &mut item.put),
                (Method::PATCH, &mut item.patch),
                (Method::DELETE, &mut item.delete),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                if op.security.as_ref().is_none_or(|s| s.is_empty()) {
                    continue;
                }
                let Some(why) = scope_refusal_text(route_scope::need_of(&method, Some(path))) else {
                    continue;
                };
                let text = format!("FORBIDDEN_SCOPE: {why}");
                match op.responses.responses.get_mut("403") {
                    Some(RefOr::T(r)) => r.description = format!("{}; {text}", r.description),
                    _ => add_missing(op, "403", &text, None),
                }
            }
        }
    }
}

/// When a limited key is refused a route needing `need`, in words; None when every key may call it.
fn scope_refusal_text(need: route_scope::Need) -> Option<String> {
    use route_scope::{Need, Reach};
    match need {
        Need::AnyKey => None,
        Need::Full => Some("only a key without limits (full rights) may call this".into()),
        Need::Scope(scope, Reach::Session) => Some(format!(
            "the key lacks the `{}` scope, or is limited to other sessions",
            scope.as_str()
        )),
        Need::Scope(scope, Reach::Account) => Some(format!(
            "the key lacks the `{}` scope, or is limited to some sessions (this route reaches all of them)",
            scope.as_str()
        )),
    }
}

/// An optional body (`Option<T>` in a `request_body`) may be left out, but it is not JSON `null`:
/// the schema is `T` itself, and `required: false` says it may be absent.
struct OptionalBodies;

impl Modify for OptionalBodies {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::{Schema, SchemaType, Type};
        each_operation(openapi, |op| {
            let Some(RefOr::T(body)) = op.request_body.as_mut() else {
                return;
            };
            if body.required.is_some() {
                return;
            }
            for content in body.content.values_mut() {
                let RefOr::T(content) = content else { continue };
                let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else {
                    continue;
                };
                let not_null: Vec<_> = one_of
                    .items
                    .iter()
                    .filter(
                        |s| !matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null)),
                    )
                    .cloned()
                    .collect();
                if let [only] = not_null.as_slice() {
                    content.schema = Some(only.clone());
                }
            }
        });
    }
}
