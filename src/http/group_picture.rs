//! `PUT` and `DELETE /api/v1/groups/{groupId}/picture/`: a group's picture. The body is the image's
//! bytes (JPEG or PNG, by its bytes, at most `media.max_upload_bytes`); wagate crops it to the
//! centred square and sends WhatsApp the 640×640 JPEG and 96×96 thumbnail it takes
//! ([`crate::images::to_profile_picture`]) through `WAWebContactProfilePicThumbBridge`.

use actix_web::{HttpResponse, delete, put, web};

use super::error::{ApiError, ok};
use super::extract::ApiKey;
use super::groups::{group_id, group_json};
use super::messages::connected_session;
use super::schemas::{Envelope, ErrorBody, Group};
use super::selector::{SessionQuery, session_for};
use crate::AppState;
use crate::error_code::ErrorCode;

/// What a group picture takes, for error messages.
const TAKES: &str = "a group picture takes a JPEG or PNG image";

fn unsupported(message: String) -> ApiError {
    ApiError::coded(ErrorCode::UnsupportedMediaType, message)
}

/// `PUT /api/v1/groups/{groupId}/picture/`: sets the group's picture (admins only when the group
/// lets only admins edit its info).
#[utoipa::path(
    tag = "groups",
    operation_id = "set_group_picture",
    security(("api_key" = [])),
    params(("groupId" = String, Path, description = "A group id", example = "120363012345678901@g.us"), SessionQuery),
    request_body(description = "The image's bytes: JPEG or PNG, any size up to 16384 pixels a side", content(
        (Vec<u8> = "image/jpeg"),
        (Vec<u8> = "image/png")
    )),
    responses(
        (status = 200, description = "The picture is set: the group as it is now", body = Envelope<Group>),
        (status = 400, description = "VALIDATION_ERROR (`groupId`, `session`, `picture`: an empty body)", body = ErrorBody),
        (status = 403, description = "WA_NOT_AUTHORIZED: only the group's admins may", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 413, description = "MEDIA_TOO_LARGE: the image is over `media.max_upload_bytes`", body = ErrorBody),
        (status = 415, description = "UNSUPPORTED_MEDIA_TYPE: the bytes are not a JPEG or PNG that decodes", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[put("/api/v1/groups/{groupId}/picture/")]
pub async fn set_picture(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    path: web::Path<String>,
    query: web::Query<SessionQuery>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let name = session_for(&p, &query, None)?;
    let gid = group_id("groupId", &path)?;
    let limit = state.settings.media.max_upload_bytes;
    let bytes = super::body::read_limited(payload, limit as usize, || super::media::too_large(limit)).await?;
    if bytes.is_empty() {
        return Err(ApiError::validation(
            "picture",
            "the body is empty: send the image's bytes (JPEG or PNG)",
        ));
    }
    match infer::get(&bytes).map(|t| t.mime_type()) {
        Some(m) if crate::images::converts(m) => {}
        Some(m) => return Err(unsupported(format!("the image is {m}: {TAKES}"))),
        None => return Err(unsupported(format!("the bytes are not a recognisable image: {TAKES}"))),
    }
    let handle = connected_session(&state, &p, &name)?;
    let picture = tokio::task::spawn_blocking(move || crate::images::to_profile_picture(&bytes))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| unsupported(format!("{e}: {TAKES}")))?;
    Ok(ok(group_json(&handle.set_group_picture(gid, Some(picture)).await?)))
}

/// `DELETE /api/v1/groups/{groupId}/picture/`: removes the group's picture.
#[utoipa::path(
    tag = "groups",
    operation_id = "delete_group_picture",
    security(("api_key" = [])),
    params(("groupId" = String, Path, description = "A group id", example = "120363012345678901@g.us"), SessionQuery),
    responses(
        (status = 200, description = "The picture is removed: the group as it is now", body = Envelope<Group>),
        (status = 400, description = "VALIDATION_ERROR (`groupId`, `session`)", body = ErrorBody),
        (status = 403, description = "WA_NOT_AUTHORIZED: only the group's admins may", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[delete("/api/v1/groups/{groupId}/picture/")]
pub async fn delete_picture(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    path: web::Path<String>,
    query: web::Query<SessionQuery>,
) -> Result<HttpResponse, ApiError> {
    let name = session_for(&p, &query, None)?;
    let gid = group_id("groupId", &path)?;
    let handle = connected_session(&state, &p, &name)?;
    Ok(ok(group_json(&handle.set_group_picture(gid, None).await?)))
}
