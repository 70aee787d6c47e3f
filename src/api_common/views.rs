//! How stored rows and session info look in JSON answers, for the API and the admin page alike.

use serde_json::{Value, json};

use crate::db::{ApiKeyRow, MessageRow, SessionRow, WebhookRow};
use crate::sessions::SessionInfo;

pub fn status_json(name: &str, info: &SessionInfo) -> Value {
    json!({
        "sessionId": name,
        "status": info.state,
        "reason": info.reason,
        "phoneNumber": info.phone,
        "pushName": info.push_name,
        "isReady": info.is_ready(),
        "since": info.since,
        "loading": info.loading,
    })
}

/// The capability report of a session's live page, as the API and the admin page show it.
pub fn capabilities_json(name: &str, info: &SessionInfo) -> Value {
    let report = info.capabilities.as_ref();
    let caps = report.map(|r| r.capabilities.as_slice()).unwrap_or_default();
    let missing: Vec<&str> = caps
        .iter()
        .filter(|c| !c.ok && !c.optional)
        .map(|c| c.error.as_deref().unwrap_or(c.name.as_str()))
        .collect();
    let fallbacks = caps.iter().filter(|c| c.ok && c.fallback.unwrap_or(0) > 0).count();
    json!({
        "sessionId": name,
        "status": info.state,
        "waVersion": report.and_then(|r| r.version.clone()),
        "capabilities": report.map(|r| &r.capabilities),
        "missing": missing,
        "fallbacks": fallbacks,
    })
}

pub fn row_json(row: &SessionRow) -> Value {
    json!({
        "sessionId": row.name,
        "status": row.status,
        "reason": row.status_reason,
        "phoneNumber": row.phone_number,
        "pushName": row.push_name,
        "isReady": false,
        "since": row.updated_at.and_utc(),
        "ackTimeouts": row.ack_timeouts,
    })
}

pub fn message_json(m: &MessageRow) -> Value {
    let details = m.details();
    json!({
        "id": m.id,
        "sessionId": m.session_id,
        "direction": m.direction,
        "fromMe": m.direction == "out",
        "chatId": m.chat_id,
        "sender": m.sender,
        "type": m.msg_type,
        "body": m.body,
        "caption": m.caption,
        "senderPhone": m.sender_phone,
        "fromPhone": m.sender_phone,
        "chatPhone": crate::db::event_record::chat_phone(m),
        "media": (m.media_path.is_some() || m.media_mime.is_some()).then(|| json!({
            "path": m.media_path,
            "url": m.media_path.as_ref().map(|_| format!("/api/v1/messages/{}/media", m.id)),
            "mimetype": m.media_mime, "filename": m.media_filename, "size": m.media_size,
            "deletedAt": m.media_deleted_at.map(|t| t.and_utc()),
        })),
        "status": m.status,
        "error": m.error_message,
        "errorCode": m.error_code,
        "messageId": m.wa_message_id,
        "createdAt": m.created_at.and_utc(),
        "sentAt": m.sent_at.map(|t| t.and_utc()),
        "quotedMessageId": details.quoted_message_id,
        "location": details.location,
        "reactionTo": details.reaction_to,
        "targetMessageId": details.target_message_id,
        "contacts": details.contacts,
        "mentions": details.mentions,
        "group": details.group,
        "poll": details.poll,
        "isForwarded": details.is_forwarded,
        "forwardingScore": details.forwarding_score,
        "forwardedFrom": details.forwarded_from,
        "editedAt": m.edited_at.map(|t| t.and_utc()),
        "revokedAt": m.revoked_at.map(|t| t.and_utc()),
    })
}

pub fn webhook_json(w: &WebhookRow) -> Value {
    json!({
        "url": w.url,
        "secret": w.secret,
        "events": w.events.split_whitespace().collect::<Vec<_>>(),
        "enabled": w.enabled,
        "createdAt": w.created_at.and_utc(),
        "updatedAt": w.updated_at.and_utc(),
    })
}

pub fn key_json(k: &ApiKeyRow) -> Value {
    let grant = crate::auth::scope::Grant::from_columns(k.scopes.as_deref(), k.sessions.as_deref()).json();
    json!({
        "scopes": grant["scopes"],
        "sessions": grant["sessions"],
        "fullRights": grant["fullRights"],
        "id": k.id,
        "keyId": k.key_id,
        "label": k.label,
        "createdAt": k.created_at.and_utc(),
        "lastUsedAt": k.last_used_at.map(|t| t.and_utc()),
        "revokedAt": k.revoked_at.map(|t| t.and_utc()),
    })
}
