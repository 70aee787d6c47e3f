//! The HTTP surface: routes, extractors and the envelope.

pub(crate) mod api_keys;
mod calls;
mod contacts;
pub mod envelope;
// The plumbing shared with the admin page lives in `api_common`; these names keep handler imports short.
pub use crate::api_common::{body, error, selector};
mod chats;
mod client_id;
mod cluster;
mod contact_card;
mod edits;
mod events_stream;
pub mod extract;
mod forward;
mod group_picture;
mod groups;
mod health;
mod location;
mod me;
mod media;
mod mentions;
pub mod messages;
pub mod openapi;
mod poll;
mod reactions;
mod reply_to;
pub(crate) mod request_log;
pub mod route_scope;
pub mod schemas;
pub(crate) mod session_settings;
pub(crate) mod sessions;
pub(crate) mod timeouts;
pub(crate) mod webhook;

use actix_web::error::{InternalError, PathError};
use actix_web::{HttpRequest, web};

use error::ApiError;

/// Registers every route, the JSON/payload limits and the envelope for framework errors.
pub fn configure(cfg: &mut web::ServiceConfig, max_json_bytes: usize) {
    // JSON bodies are read by `body::Json` (its limit is `server.max_json_bytes` too).
    cfg.app_data(web::PayloadConfig::default().limit(max_json_bytes))
        .app_data(web::PathConfig::default().error_handler(path_error))
        .app_data(
            web::QueryConfig::default()
                .error_handler(|e, _req| ApiError::BadRequest(format!("Invalid query string: {e}")).into()),
        )
        .service(health::health)
        .service(health::metrics)
        .service(me::me)
        .service(cluster::cluster)
        .service(api_keys::list)
        .service(api_keys::create)
        .service(api_keys::revoke)
        .service(sessions::init)
        .service(sessions::status)
        .service(sessions::qr_code)
        .service(sessions::logout)
        .service(sessions::restart)
        .service(sessions::remove)
        .service(sessions::list)
        .service(sessions::events)
        .service(sessions::capabilities)
        .service(session_settings::get_settings)
        .service(session_settings::update_settings)
        .service(calls::reject)
        .service(chats::mark_read)
        .service(chats::presence)
        .service(chats::subscribe_presence)
        .service(chats::get_presence)
        .service(chats::list)
        .service(chats::messages)
        .service(contacts::by_lid)
        .service(contacts::by_phone)
        .service(contacts::list)
        .service(groups::create)
        .service(groups::list)
        .service(groups::join)
        .service(groups::get_one)
        .service(groups::update)
        .service(groups::participants)
        .service(groups::invite)
        .service(groups::revoke_invite)
        .service(groups::leave)
        .service(group_picture::set_picture)
        .service(group_picture::delete_picture)
        .service(messages::send_text)
        .service(media::send_media)
        .service(location::send_location)
        .service(contact_card::send_contact)
        .service(poll::send_poll)
        .service(poll::votes)
        .service(reactions::react)
        .service(forward::forward)
        .service(edits::edit)
        .service(edits::revoke)
        .service(messages::list)
        .service(messages::get_one)
        .service(messages::check)
        // After `/api/v1/contacts/check/`, which its `{id}` would also match.
        .service(contacts::get_one)
        .service(contacts::block)
        .service(contacts::unblock)
        .service(messages::media_file)
        .service(webhook::get_webhook)
        .service(webhook::put_webhook)
        .service(webhook::delete_webhook)
        .service(webhook::test_webhook)
        .service(webhook::deliveries)
        .service(webhook::replay)
        .service(events_stream::stream)
        .configure(crate::admin::configure)
        .service(
            utoipa_swagger_ui::SwaggerUi::new("/docs/{_:.*}")
                .url("/api/openapi.json", <openapi::ApiDoc as utoipa::OpenApi>::openapi()),
        )
        .default_service(web::to(envelope::no_route));
}

/// A path segment that does not parse. `/api/v1/messages/send-text/` also fits
/// `/api/v1/messages/{id}/`: when another route takes this very path, a method it does not take is
/// 405 with its `Allow`, not a bad id.
fn path_error(e: PathError, req: &HttpRequest) -> actix_web::Error {
    let allowed = envelope::allowed_methods(req.path());
    if !allowed.is_empty() && !allowed.contains(req.method()) {
        return InternalError::from_response(e, envelope::method_not_allowed(req, &allowed)).into();
    }
    ApiError::BadRequest(format!("Invalid path parameter: {e}")).into()
}
