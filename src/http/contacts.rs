//! `/api/v1/contacts/…`: LID ↔ phone lookups. WhatsApp addresses people by LID (`<digits>@lid`)
//! more and more; the phone behind one is known only when WhatsApp Web revealed it to one of the
//! caller's sessions (a sender, a chat, a number check). Answered from the `lid_map` table.

use actix_web::{HttpResponse, get, web};
use serde_json::json;

use super::error::{ApiError, ok};
use super::extract::ApiKey;
use super::schemas::{ContactPair, Envelope, ErrorBody};
use crate::AppState;
use crate::db::LidPairRow;
use crate::error_code::ErrorCode;

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
