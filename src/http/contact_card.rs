//! `POST /api/v1/messages/send-contact/`: contact cards (vCard 3.0, [`crate::vcard`]), sent
//! through the session's queue like a text (`Idempotency-Key`, `?async=true`, `replyTo`,
//! `markRead`). One contact is WhatsApp's `vcard` message, several a `multi_vcard`.

use actix_web::{HttpRequest, HttpResponse, post, web};
use serde::Deserialize;
use serde_json::json;

use super::body::Json;
use super::error::ApiError;
use super::extract::ApiKey;
use super::messages::{
    Idempotency, SendMode, enqueue_and_answer, idempotency_key, new_message, recipient, replay, sending_session,
};
use super::reply_to::ReplyTo;
use super::schemas::{Envelope, ErrorBody, SendQueued, SendResult};
use super::selector::{SessionQuery, session_for};
use crate::AppState;
use crate::db::{MessageDetails, MessageKind};
use crate::sessions::ChatId;
use crate::vcard::Contact;

/// At most this many contacts on one message (what wagate accepts; WhatsApp's own picker stops
/// far later).
const MAX_CONTACTS: usize = 20;
const MAX_NAME_CHARS: usize = 256;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct ContactIn {
    /// The name shown.
    #[schema(required = true, nullable = false, min_length = 1, max_length = 256)]
    name: Option<String>,
    /// A phone number in international format (`+1 555 000 2002`, `15550002002`).
    #[schema(required = true, nullable = false, min_length = 1)]
    phone: Option<String>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SendContact {
    /// A phone number in international format or a chat id.
    #[schema(required = true, nullable = false, min_length = 1)]
    recipient: Option<String>,
    /// 1 to 20 contacts.
    #[schema(required = true, nullable = false, min_items = 1, max_items = 20)]
    contacts: Option<Vec<ContactIn>>,
    /// Session name (default `default`); wins over `?session=`.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    session: Option<String>,
    /// Also mark the chat read when it is sent. Default false.
    #[serde(rename = "markRead")]
    mark_read: Option<bool>,
    /// Reply to (quote) this message of the same chat: its `dbId` or WhatsApp id.
    #[serde(rename = "replyTo")]
    reply_to: Option<ReplyTo>,
    /// The message key id, chosen by the client: 16 to 32 uppercase hex digits, new in the
    /// session. The message's WhatsApp id becomes `true_<chat>_<id>`. Default: wagate picks one.
    #[schema(pattern = "^[0-9A-F]{16,32}$")]
    id: Option<String>,
}

/// The contacts, checked: 400 naming `contacts` (or `contacts[i].name` / `contacts[i].phone`).
fn contacts_field(raw: Option<Vec<ContactIn>>) -> Result<Vec<Contact>, ApiError> {
    let raw = raw.unwrap_or_default();
    if raw.is_empty() || raw.len() > MAX_CONTACTS {
        return Err(ApiError::validation(
            "contacts",
            format!("contacts must list 1 to {MAX_CONTACTS} contacts, each {{name, phone}}"),
        ));
    }
    raw.into_iter()
        .enumerate()
        .map(|(i, c)| {
            let name = c.name.map(|n| n.trim().to_string()).unwrap_or_default();
            let field = format!("contacts[{i}].name");
            if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
                return Err(ApiError::validation(
                    &field,
                    format!("{field} must be 1 to {MAX_NAME_CHARS} characters"),
                ));
            }
            let field = format!("contacts[{i}].phone");
            let phone = ChatId::parse(c.phone.as_deref().unwrap_or_default())
                .ok()
                .and_then(|id| id.phone().map(str::to_string))
                .ok_or_else(|| {
                    ApiError::validation(
                        &field,
                        format!("{field} must be a phone number in international format"),
                    )
                })?;
            Ok(Contact { name, phone })
        })
        .collect()
}

#[utoipa::path(
    tag = "messages",
    operation_id = "send_contact",
    security(("api_key" = [])),
    params(
        SessionQuery,
        SendMode,
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~][ -~]{0,254}$", description = "1 to 255 printable ASCII characters: a retry with the same key returns the first result instead of sending again")
    ),
    request_body(content = SendContact, example = json!({"recipient": "+15550002002", "contacts": [{"name": "Jane Doe", "phone": "+15550003003"}]})),
    responses(
        (status = 200, description = "Sent: `message` is `Contact sent successfully`", body = Envelope<SendResult>),
        (status = 202, description = "Queued (`?async=true`, a session that is away, or longer than `sending.wait_secs`); it still goes out", body = Envelope<SendQueued>),
        (status = 400, description = "VALIDATION_ERROR naming the field (recipient, contacts, contacts[i].name, contacts[i].phone, replyTo, session, Idempotency-Key), BAD_REQUEST (malformed JSON)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED, SEND_IN_PROGRESS, CONFLICT (`id` already used in the session)", body = ErrorBody),
        (status = 422, description = "RECIPIENT_NOT_ON_WHATSAPP, IDEMPOTENCY_KEY_REUSED", body = ErrorBody),
        (status = 429, description = "SESSION_LIMIT_REACHED, RATE_LIMITED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web (with `detail`), SEND_FAILED", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE, SERVICE_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[post("/api/v1/messages/send-contact/")]
pub async fn send_contact(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    req: HttpRequest,
    query: web::Query<SessionQuery>,
    mode: web::Query<SendMode>,
    body: Json<SendContact>,
) -> Result<HttpResponse, ApiError> {
    const DONE: &str = "Contact sent successfully";
    let body = body.into_inner();
    let name = session_for(&p, &query, body.session.as_deref())?;
    let chat = recipient(body.recipient.as_deref())?;
    let contacts = contacts_field(body.contacts)?;
    let reply_to = body.reply_to.map(ReplyTo::checked).transpose()?;
    let client_id = super::client_id::checked(body.id)?;
    let idem = idempotency_key(&req)?.map(|key| {
        let cards = json!(contacts).to_string();
        let reply = reply_to.as_ref().map(ReplyTo::fingerprint).unwrap_or_default();
        let mut fields: Vec<&[u8]> = vec![chat.as_str().as_bytes(), cards.as_bytes(), reply.as_bytes()];
        // Only when given: a retry of a request from before client ids keeps its fingerprint.
        fields.extend(client_id.as_deref().map(str::as_bytes));
        Idempotency::bind(key, "send-contact", &name, &fields)
    });
    if let Some(answer) = replay(&state, &p, idem.as_ref(), DONE).await? {
        return Ok(answer);
    }
    let session_id = sending_session(&state, &p, &name).await?;
    let base = super::messages::send_details(&state, &p, session_id, &chat, reply_to.as_ref(), client_id).await?;
    let kind = if contacts.len() == 1 {
        MessageKind::Vcard
    } else {
        MessageKind::MultiVcard
    };
    let mut row = new_message(&p, session_id, &chat, kind, idem);
    row.body = Some(contacts.iter().map(crate::vcard::card).collect());
    row.mark_read = body.mark_read.unwrap_or(false);
    row.details = MessageDetails {
        contacts: Some(contacts),
        ..base
    }
    .to_column();
    enqueue_and_answer(&state, &p, row, mode.into_inner().is_async(), DONE).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_are_named_numbers_and_a_bad_one_is_named() {
        let ok = contacts_field(Some(vec![ContactIn {
            name: Some(" Jane ".into()),
            phone: Some("+1 555 000 3003".into()),
        }]))
        .unwrap();
        assert_eq!(
            ok,
            [Contact {
                name: "Jane".into(),
                phone: "15550003003".into()
            }]
        );
        assert!(contacts_field(Some(vec![])).is_err());
        assert!(contacts_field(None).is_err());
        let bad = contacts_field(Some(vec![
            ContactIn {
                name: Some("A".into()),
                phone: Some("15550003003".into()),
            },
            ContactIn {
                name: Some("B".into()),
                phone: Some("120363000000000001@g.us".into()),
            },
        ]));
        assert!(matches!(bad, Err(ApiError::Validation { field, .. }) if field == "contacts[1].phone"));
    }
}
