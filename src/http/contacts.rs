//! `/api/v1/contacts/…`: the users WhatsApp Web knows (read from the connected page: names,
//! business flag, phone and LID; one contact with profile picture and about), and LID ↔ phone lookups. WhatsApp addresses people by LID (`<digits>@lid`)
//! more and more; the phone behind one is known only when WhatsApp Web revealed it to one of the
//! caller's sessions (a sender, a chat, a number check). Answered from the `lid_map` table.

use actix_web::{HttpResponse, delete, get, post, web};
use serde::Deserialize;
use serde_json::json;

use super::chats::number_in;
use super::error::{ApiError, ok};
use super::extract::ApiKey;
use super::messages::connected_session;
use super::schemas::{Contact, ContactList, ContactPair, Envelope, ErrorBody};
use super::selector::{SessionQuery, session_for};
use crate::AppState;
use crate::browser::protocol::WaContact;
use crate::db::LidPairRow;
use crate::error_code::ErrorCode;
use crate::sessions::ChatId;

fn pair_json(p: &LidPairRow) -> serde_json::Value {
    json!({
        "lid": p.lid,
        "phone": p.phone,
        "chatId": format!("{}@c.us", p.phone),
        "session": p.session_name,
        "firstSeenAt": p.first_seen_at.and_utc(),
        "updatedAt": p.updated_at.and_utc(),
    })
}

/// `<digits>` or `<digits>@lid` → `<digits>@lid`.
fn parse_lid(raw: &str) -> Result<String, ApiError> {
    let digits = raw.trim().strip_suffix("@lid").unwrap_or(raw.trim());
    if digits.is_empty() || digits.len() > 32 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::validation(
            "lid",
            "lid must be a WhatsApp LID: digits, optionally followed by @lid (e.g. 123456789012345@lid)",
        ));
    }
    Ok(format!("{digits}@lid"))
}

/// `<digits>`, `+<digits>` or `<digits>@c.us` → digits.
fn parse_phone(raw: &str) -> Result<String, ApiError> {
    let t = raw.trim();
    let digits = t.strip_suffix("@c.us").unwrap_or(t).trim_start_matches('+');
    if !(7..=15).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::validation(
            "phone",
            "phone must be an international number of 7 to 15 digits (e.g. 15550001234, +15550001234 or 15550001234@c.us)",
        ));
    }
    Ok(digits.to_string())
}

fn not_found(what: &str) -> ApiError {
    ApiError::coded(
        ErrorCode::ContactNotFound,
        format!("No LID ↔ phone pair for {what} in your sessions: WhatsApp has not revealed it to any of them yet"),
    )
}

/// `GET /api/v1/contacts/lid/{lid}/`: the phone number behind a LID.
#[utoipa::path(
    tag = "contacts",
    operation_id = "contact_by_lid",
    security(("api_key" = [])),
    params(("lid" = String, Path, description = "A LID: `<digits>@lid` or its digits", example = "123456789012345@lid")),
    responses(
        (status = 200, description = "The newest pair any of the caller's sessions saw", body = Envelope<ContactPair>),
        (status = 400, description = "VALIDATION_ERROR (`lid`)", body = ErrorBody),
        (status = 404, description = "CONTACT_NOT_FOUND: no session of the caller saw this LID with a phone", body = ErrorBody)
    )
)]
#[get("/api/v1/contacts/lid/{lid}/")]
pub async fn by_lid(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    lid: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let lid = parse_lid(&lid)?;
    let pair = state
        .db
        .pair_by_lid(p.user_id, &lid)
        .await?
        .ok_or_else(|| not_found(&lid))?;
    Ok(ok(pair_json(&pair)))
}

/// `GET /api/v1/contacts/phone/{phone}/`: the LID WhatsApp uses for a phone number.
#[utoipa::path(
    tag = "contacts",
    operation_id = "contact_by_phone",
    security(("api_key" = [])),
    params(("phone" = String, Path, description = "A phone number: digits, `+digits` or `<digits>@c.us`", example = "15550001234")),
    responses(
        (status = 200, description = "The newest pair any of the caller's sessions saw", body = Envelope<ContactPair>),
        (status = 400, description = "VALIDATION_ERROR (`phone`)", body = ErrorBody),
        (status = 404, description = "CONTACT_NOT_FOUND: no session of the caller saw a LID for this number", body = ErrorBody)
    )
)]
#[get("/api/v1/contacts/phone/{phone}/")]
pub async fn by_phone(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    phone: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let phone = parse_phone(&phone)?;
    let pair = state
        .db
        .pair_by_phone(p.user_id, &phone)
        .await?
        .ok_or_else(|| not_found(&phone))?;
    Ok(ok(pair_json(&pair)))
}

fn contact_json(c: &WaContact) -> serde_json::Value {
    json!({
        "id": c.id,
        "name": c.name,
        "pushName": c.pushname,
        "isBusiness": c.is_business,
        "isMyContact": c.is_my_contact,
        "isBlocked": c.is_blocked,
        "phone": c.phone,
        "lid": c.lid,
        "profilePictureUrl": c.profile_picture_url,
        "about": c.about,
    })
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ContactListQuery {
    /// Session name (default `default`).
    #[param(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    session: Option<String>,
    /// 1 to 500, default 100.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// Contacts to skip (the previous page's `nextOffset`), default 0.
    #[param(value_type = Option<u32>, minimum = 0)]
    offset: Option<String>,
}

/// `GET /api/v1/contacts/`: the users the account's WhatsApp Web knows — its address book and
/// everyone it met — by name.
#[utoipa::path(
    tag = "contacts",
    operation_id = "list_contacts",
    security(("api_key" = [])),
    params(ContactListQuery),
    responses(
        (status = 200, description = "A page of contacts, with `nextOffset` for the next", body = Envelope<ContactList>),
        (status = 400, description = "VALIDATION_ERROR (`limit`, `offset`, `session`)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[get("/api/v1/contacts/")]
pub async fn list(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    query: web::Query<ContactListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let name = session_for(&p, &SessionQuery { session: q.session }, None)?;
    let limit = number_in("limit", q.limit.as_deref(), 1..=500, 100)?;
    let offset = number_in("offset", q.offset.as_deref(), 0..=usize::MAX, 0)?;
    let handle = connected_session(&state, &p, &name)?;
    let mut all = handle.list_contacts().await?;
    // Named ones first (the address book), by name; then by id.
    all.sort_by(|a, b| {
        let key = |c: &WaContact| (c.name.is_none(), c.name.clone().or(c.pushname.clone()), c.id.clone());
        key(a).cmp(&key(b))
    });
    let total = all.len();
    let page: Vec<_> = all.iter().skip(offset).take(limit).map(contact_json).collect();
    let next = (offset + page.len() < total).then_some(offset + page.len());
    Ok(ok(json!({ "contacts": page, "total": total, "nextOffset": next })))
}

/// `GET /api/v1/contacts/{id}/`: one user, with the profile picture URL and the about text
/// WhatsApp gives (each `null` when there is none or the user's privacy settings hide it).
#[utoipa::path(
    tag = "contacts",
    operation_id = "get_contact",
    security(("api_key" = [])),
    params(
        ("id" = String, Path, description = "A phone number, `<digits>@c.us` or `<digits>@lid`", example = "15550002002"),
        SessionQuery
    ),
    responses(
        (status = 200, description = "The contact", body = Envelope<Contact>),
        (status = 400, description = "VALIDATION_ERROR (`id`, `session`)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[get("/api/v1/contacts/{id}/")]
pub async fn get_one(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    id: web::Path<String>,
    query: web::Query<SessionQuery>,
) -> Result<HttpResponse, ApiError> {
    let name = session_for(&p, &query, None)?;
    let user = user_id(&id)?;
    let handle = connected_session(&state, &p, &name)?;
    let contact = handle.contact_info(&user).await?;
    Ok(ok(contact_json(&contact)))
}

/// A user id from the path: a phone number, `…@c.us` or `…@lid` (400 naming `id` otherwise).
fn user_id(raw: &str) -> Result<ChatId, ApiError> {
    const RULE: &str = "id must be a user: a phone number in international format, <digits>@c.us or <digits>@lid";
    let user = ChatId::parse(raw).map_err(|_| ApiError::validation("id", RULE))?;
    if !(user.as_str().ends_with("@c.us") || user.as_str().ends_with("@lid")) {
        return Err(ApiError::validation("id", RULE));
    }
    Ok(user)
}

async fn set_blocked(
    state: &AppState,
    p: &crate::auth::Principal,
    id: &str,
    query: &SessionQuery,
    blocked: bool,
) -> Result<HttpResponse, ApiError> {
    let name = session_for(p, query, None)?;
    let user = user_id(id)?;
    let handle = connected_session(state, p, &name)?;
    let contact = handle.set_blocked(&user, blocked).await?;
    Ok(ok(contact_json(&contact)))
}

/// `POST /api/v1/contacts/{id}/block/`: blocks the user (no messages, calls or status from them).
#[utoipa::path(
    tag = "contacts",
    operation_id = "block_contact",
    security(("api_key" = [])),
    params(
        ("id" = String, Path, description = "A phone number, `<digits>@c.us` or `<digits>@lid`", example = "15550002002"),
        SessionQuery
    ),
    responses(
        (status = 200, description = "Blocked: the contact (`isBlocked` true)", body = Envelope<Contact>),
        (status = 400, description = "VALIDATION_ERROR (`id`, `session`)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[post("/api/v1/contacts/{id}/block/")]
pub async fn block(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    id: web::Path<String>,
    query: web::Query<SessionQuery>,
) -> Result<HttpResponse, ApiError> {
    set_blocked(&state, &p, &id, &query, true).await
}

/// `DELETE /api/v1/contacts/{id}/block/`: unblocks the user.
#[utoipa::path(
    tag = "contacts",
    operation_id = "unblock_contact",
    security(("api_key" = [])),
    params(
        ("id" = String, Path, description = "A phone number, `<digits>@c.us` or `<digits>@lid`", example = "15550002002"),
        SessionQuery
    ),
    responses(
        (status = 200, description = "Unblocked: the contact (`isBlocked` false)", body = Envelope<Contact>),
        (status = 400, description = "VALIDATION_ERROR (`id`, `session`)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[delete("/api/v1/contacts/{id}/block/")]
pub async fn unblock(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    id: web::Path<String>,
    query: web::Query<SessionQuery>,
) -> Result<HttpResponse, ApiError> {
    set_blocked(&state, &p, &id, &query, false).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_in_either_spelling() {
        assert_eq!(parse_lid("123456789@lid").unwrap(), "123456789@lid");
        assert_eq!(parse_lid("123456789").unwrap(), "123456789@lid");
        assert!(parse_lid("12a@lid").is_err());
        assert!(parse_lid("@lid").is_err());
        assert_eq!(parse_phone("+15550001234").unwrap(), "15550001234");
        assert_eq!(parse_phone("15550001234@c.us").unwrap(), "15550001234");
        assert!(parse_phone("123").is_err());
        assert!(parse_phone("1555000123x").is_err());
    }
}
