//! Polls: `POST /api/v1/messages/send-poll/` sends one through the session's queue like a text
//! (`Idempotency-Key`, `?async=true`, `replyTo`, `markRead`); `GET /api/v1/messages/{id}/votes/`
//! tallies the votes WhatsApp Web reported for it (each voter's latest vote counts).

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::body::Json;
use super::error::{ApiError, ok};
use super::extract::ApiKey;
use super::messages::{
    Idempotency, SendMode, enqueue_and_answer, idempotency_key, new_message, recipient, replay, sending_session,
};
use super::reply_to::ReplyTo;
use super::schemas::{Envelope, ErrorBody, SendQueued, SendResult};
use super::selector::{SessionQuery, session_for};
use crate::AppState;
use crate::db::{MessageDetails, MessageKind, Poll, PollVote};
use crate::error_code::ErrorCode;

/// What wagate accepts; WhatsApp's own poll composer has the same bounds (12 options).
const MAX_QUESTION_CHARS: usize = 255;
const MIN_OPTIONS: usize = 2;
const MAX_OPTIONS: usize = 12;
const MAX_OPTION_CHARS: usize = 100;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct SendPoll {
    /// A phone number in international format or a chat id.
    #[schema(required = true, nullable = false, min_length = 1)]
    recipient: Option<String>,
    /// The question, 1 to 255 characters.
    #[schema(value_type = String, required = true, nullable = false, min_length = 1, max_length = 255)]
    question: Option<Value>,
    /// 2 to 12 different options, each 1 to 100 characters.
    #[schema(value_type = Vec<String>, required = true, nullable = false, min_items = 2, max_items = 12)]
    options: Option<Value>,
    /// Whether a voter may pick more than one option. Default false (one answer).
    #[schema(value_type = bool)]
    multiple: Option<Value>,
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

/// One line of text in `field`: a JSON string, trimmed, 1 to `max` characters, no line break.
fn poll_text(field: &str, raw: Option<&Value>, max: usize) -> Result<String, ApiError> {
    let text = match raw {
        Some(Value::String(s)) => s.trim().to_string(),
        None | Some(Value::Null) => return Err(ApiError::validation(field, format!("{field} is required: text"))),
        Some(other) => {
            return Err(ApiError::validation(
                field,
                format!("{field} must be text, not {other}"),
            ));
        }
    };
    if text.is_empty() {
        return Err(ApiError::validation(field, format!("{field} must not be empty")));
    }
    let chars = text.chars().count();
    if chars > max {
        return Err(ApiError::validation(
            field,
            format!("{field} has {chars} characters; at most {max}"),
        ));
    }
    if text.contains(['\n', '\r']) {
        return Err(ApiError::validation(field, format!("{field} must be one line")));
    }
    Ok(text)
}

/// The poll, checked: 400 naming `question`, `options`, `options[i]` or `multiple`.
fn poll_fields(question: Option<&Value>, options: Option<&Value>, multiple: Option<&Value>) -> Result<Poll, ApiError> {
    let question = poll_text("question", question, MAX_QUESTION_CHARS)?;
    let rule = format!("options must list {MIN_OPTIONS} to {MAX_OPTIONS} different texts");
    let list = match options {
        Some(Value::Array(list)) => list,
        _ => return Err(ApiError::validation("options", rule)),
    };
    if !(MIN_OPTIONS..=MAX_OPTIONS).contains(&list.len()) {
        return Err(ApiError::validation(
            "options",
            format!("{rule}; it has {}", list.len()),
        ));
    }
    let mut options: Vec<String> = Vec::with_capacity(list.len());
    for (i, raw) in list.iter().enumerate() {
        let field = format!("options[{i}]");
        let text = poll_text(&field, Some(raw), MAX_OPTION_CHARS)?;
        if let Some(j) = options.iter().position(|o| *o == text) {
            return Err(ApiError::validation(
                &field,
                format!("{field} repeats options[{j}] ({text:?}); each option must be different"),
            ));
        }
        options.push(text);
    }
    let multiple = match multiple {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(ApiError::validation(
                "multiple",
                format!("multiple must be true or false, not {other}"),
            ));
        }
    };
    Ok(Poll {
        question,
        options,
        multiple,
    })
}

#[utoipa::path(
    tag = "messages",
    operation_id = "send_poll",
    security(("api_key" = [])),
    params(
        SessionQuery,
        SendMode,
        ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~][ -~]{0,254}$", description = "1 to 255 printable ASCII characters: a retry with the same key returns the first result instead of sending again")
    ),
    request_body(content = SendPoll, example = json!({"recipient": "+15550002002", "question": "Lunch on Friday?", "options": ["Pizza", "Sushi", "Salad"], "multiple": false})),
    responses(
        (status = 200, description = "Sent: `message` is `Poll sent successfully`", body = Envelope<SendResult>),
        (status = 202, description = "Queued (`?async=true`, a session that is away, or longer than `sending.wait_secs`); it still goes out", body = Envelope<SendQueued>),
        (status = 400, description = "VALIDATION_ERROR naming the field (recipient, question, options, options[i], multiple, replyTo, id, session, Idempotency-Key), BAD_REQUEST (malformed JSON)", body = ErrorBody),
        (status = 409, description = "SESSION_NOT_CONNECTED, SEND_IN_PROGRESS, CONFLICT (`id` already used in the session)", body = ErrorBody),
        (status = 422, description = "RECIPIENT_NOT_ON_WHATSAPP, IDEMPOTENCY_KEY_REUSED", body = ErrorBody),
        (status = 429, description = "SESSION_LIMIT_REACHED, RATE_LIMITED", body = ErrorBody),
        (status = 502, description = "`WA_*` codes from WhatsApp Web (with `detail`), SEND_FAILED", body = ErrorBody),
        (status = 503, description = "BROWSER_UNAVAILABLE, SERVICE_UNAVAILABLE", body = ErrorBody),
        (status = 504, description = "SEND_TIMEOUT: WhatsApp did not answer in time", body = ErrorBody)
    )
)]
#[post("/api/v1/messages/send-poll/")]
pub async fn send_poll(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    req: HttpRequest,
    query: web::Query<SessionQuery>,
    mode: web::Query<SendMode>,
    body: Json<SendPoll>,
) -> Result<HttpResponse, ApiError> {
    const DONE: &str = "Poll sent successfully";
    let body = body.into_inner();
    let name = session_for(&p, &query, body.session.as_deref())?;
    let chat = recipient(body.recipient.as_deref())?;
    let poll = poll_fields(body.question.as_ref(), body.options.as_ref(), body.multiple.as_ref())?;
    let reply_to = body.reply_to.map(ReplyTo::checked).transpose()?;
    let client_id = super::client_id::checked(body.id)?;
    let idem = idempotency_key(&req)?.map(|key| {
        let poll_json = json!(poll).to_string();
        let reply = reply_to.as_ref().map(ReplyTo::fingerprint).unwrap_or_default();
        let mut fields: Vec<&[u8]> = vec![chat.as_str().as_bytes(), poll_json.as_bytes(), reply.as_bytes()];
        // Only when given, as on the other sends.
        fields.extend(client_id.as_deref().map(str::as_bytes));
        Idempotency::bind(key, "send-poll", &name, &fields)
    });
    if let Some(answer) = replay(&state, &p, idem.as_ref(), DONE).await? {
        return Ok(answer);
    }
    let session_id = sending_session(&state, &p, &name).await?;
    let base = super::messages::send_details(&state, &p, session_id, &chat, reply_to.as_ref(), client_id).await?;
    let mut row = new_message(&p, session_id, &chat, MessageKind::Poll, idem);
    row.body = Some(poll.question.clone());
    row.mark_read = body.mark_read.unwrap_or(false);
    row.details = MessageDetails {
        poll: Some(poll),
        ..base
    }
    .to_column();
    enqueue_and_answer(&state, &p, row, mode.into_inner().is_async(), DONE).await
}

/// One option of a poll with its votes.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OptionTally {
    pub name: String,
    /// How many voters picked it.
    pub votes: usize,
    /// Who picked it (user ids).
    pub voters: Vec<String>,
}

/// A poll's votes: each voter's latest vote counts.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PollTally {
    /// The poll's `dbId`.
    pub db_id: i64,
    /// The poll's WhatsApp id.
    pub message_id: Option<String>,
    pub question: String,
    pub multiple: bool,
    /// Every option, in the poll's order.
    pub options: Vec<OptionTally>,
    /// Each voter's current vote (a voter who took their vote back is not listed).
    pub voters: Vec<PollVote>,
    /// How many voters have a vote now.
    pub total_voters: usize,
}

#[utoipa::path(
    tag = "messages",
    operation_id = "get_poll_votes",
    security(("api_key" = [])),
    params(("id" = i64, Path, description = "The poll's `dbId`")),
    responses(
        (status = 200, description = "The tally per option and each voter's current vote", body = Envelope<PollTally>),
        (status = 400, description = "VALIDATION_ERROR on `id`: the message is not a poll", body = ErrorBody),
        (status = 404, description = "MESSAGE_NOT_FOUND (also another user's message)", body = ErrorBody)
    )
)]
#[get("/api/v1/messages/{id}/votes/")]
pub async fn votes(
    state: web::Data<AppState>,
    ApiKey(p): ApiKey,
    id: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let id = id.into_inner();
    let row = state
        .db
        .message_for_user(p.user_id, id)
        .await?
        .ok_or_else(|| ApiError::coded(ErrorCode::MessageNotFound, format!("No message {id}")))?;
    let details = row.details();
    let (MessageKind::Poll, Some(poll)) = (&row.msg_type, details.poll.as_ref()) else {
        return Err(ApiError::validation(
            "id",
            format!("message {id} is not a poll (its type is {})", row.msg_type),
        ));
    };
    let current: Vec<PollVote> = details
        .poll_votes
        .iter()
        .filter(|v| !v.selected_options.is_empty())
        .cloned()
        .collect();
    let options = poll
        .tally(&current)
        .into_iter()
        .map(|(name, by)| OptionTally {
            name: name.to_string(),
            votes: by.len(),
            voters: by.iter().map(|v| v.voter.clone()).collect(),
        })
        .collect();
    Ok(ok(json!(PollTally {
        db_id: row.id,
        message_id: row.wa_message_id.clone(),
        question: poll.question.clone(),
        multiple: poll.multiple,
        options,
        total_voters: current.len(),
        voters: current,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(r: Result<Poll, ApiError>) -> String {
        match r {
            Err(ApiError::Validation { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_poll_is_a_question_and_two_to_twelve_different_options() {
        let ok = poll_fields(Some(&json!(" Lunch? ")), Some(&json!(["Pizza", " Sushi"])), None).unwrap();
        assert_eq!(
            ok,
            Poll {
                question: "Lunch?".into(),
                options: vec!["Pizza".into(), "Sushi".into()],
                multiple: false
            }
        );
        assert!(
            poll_fields(Some(&json!("q")), Some(&json!(["a", "b"])), Some(&json!(true)))
                .unwrap()
                .multiple
        );
        let twelve: Vec<String> = (0..12).map(|i| format!("o{i}")).collect();
        assert!(poll_fields(Some(&json!("q")), Some(&json!(twelve)), None).is_ok());
        let thirteen: Vec<String> = (0..13).map(|i| format!("o{i}")).collect();
        for (q, o, m, field) in [
            (json!(""), json!(["a", "b"]), Value::Null, "question"),
            (json!("  "), json!(["a", "b"]), Value::Null, "question"),
            (json!("x".repeat(256)), json!(["a", "b"]), Value::Null, "question"),
            (json!(7), json!(["a", "b"]), Value::Null, "question"),
            (json!("q"), json!(["a"]), Value::Null, "options"),
            (json!("q"), json!(thirteen), Value::Null, "options"),
            (json!("q"), json!("a,b"), Value::Null, "options"),
            (json!("q"), json!(["a", " a "]), Value::Null, "options[1]"),
            (json!("q"), json!(["a", ""]), Value::Null, "options[1]"),
            (json!("q"), json!(["a", 2]), Value::Null, "options[1]"),
            (json!("q"), json!(["a", "y".repeat(101)]), Value::Null, "options[1]"),
            (json!("q"), json!(["a", "b"]), json!("yes"), "multiple"),
            (json!("q"), json!(["a", "b"]), json!(1), "multiple"),
        ] {
            let m = (!m.is_null()).then_some(m);
            assert_eq!(
                field_of(poll_fields(Some(&q), Some(&o), m.as_ref())),
                field,
                "{q} {o} {m:?}"
            );
        }
        assert_eq!(field_of(poll_fields(None, Some(&json!(["a", "b"])), None)), "question");
        assert_eq!(field_of(poll_fields(Some(&json!("q")), None, None)), "options");
    }
}
