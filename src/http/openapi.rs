//! The OpenAPI 3.1 document (`/api/openapi.json`) and Swagger UI (`/docs/`).

use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{api_keys, events_stream, health, me, media, messages, sessions, webhook};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "wagate",
        description = "Self-hosted WhatsApp HTTP API gateway. Authenticate with `Authorization: ApiKey <key>` \
                       (or `Bearer <key>`, or `X-Api-Key`). Errors are `{success:false, message, error, error_code}`."
    ),
    paths(
        health::health,
        health::metrics,
        me::me,
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
        messages::send_text,
        media::send_media,
        messages::list,
        messages::get_one,
        messages::check,
        messages::media_file,
        webhook::get_webhook,
        webhook::put_webhook,
        webhook::delete_webhook,
        webhook::test_webhook,
        webhook::deliveries,
        webhook::replay,
        events_stream::stream,
    ),
    modifiers(&Security)
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
