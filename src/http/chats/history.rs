//! A chat's history as two sources tell it: WhatsApp Web (what the page holds and loads from the
//! phone) and wagate's database (what passed through the gateway). One entry per WhatsApp id;
//! rows the page no longer has are placed by their time.

use std::collections::{HashMap, HashSet};

use serde_json::{Value, json};

use crate::api_common::error::ApiError;
use crate::browser::protocol::{ChatMessages, WaMessage};
use crate::db::{Database, MessageRow};
use crate::sessions::ChatId;

/// Newest first: the page's message and/or wagate's row for each entry.
pub(super) struct Merged {
    pub items: Vec<(Option<WaMessage>, Option<MessageRow>)>,
    /// The oldest entry's WhatsApp id when earlier ones exist.
    pub next_before: Option<String>,
}

/// Joins a page of `fetched` messages with the session's stored rows: rows with the same
/// WhatsApp id are attached, rows of the chat in the page's time window that the page lacks are
/// added. `before_t`: the cursor's time (when the database knows it); `limit`: entries at most.
pub(super) async fn merge(
    db: &Database,
    session_id: i64,
    asked: &ChatId,
    fetched: &ChatMessages,
    before: Option<&str>,
    before_t: Option<i64>,
    limit: usize,
) -> Result<Merged, ApiError> {
    let ids: Vec<String> = fetched.messages.iter().map(|m| m.id.clone()).collect();
    let mut rows: HashMap<String, MessageRow> = db
        .messages_by_wa_ids(session_id, ids.clone())
        .await?
        .into_iter()
        .filter_map(|r| r.wa_message_id.clone().map(|id| (id, r)))
        .collect();
    // The window the page's messages span: from the oldest (when earlier ones exist; else from
    // the start) up to the cursor (else up to now).
    let from = if fetched.more {
        fetched.messages.first().and_then(|m| m.t)
    } else {
        None
    };
    let to = match (before, before_t) {
        (None, _) => None,
        (Some(_), Some(t)) => Some(Some(t)),
        (Some(_), None) => Some(fetched.messages.last().and_then(|m| m.t).map(|t| t + 1)),
    };
    let mut extra = Vec::new();
    if to != Some(None) {
        let mut chats = vec![asked.as_str().to_string(), fetched.chat.id.clone()];
        if let Some(phone) = &fetched.chat.phone {
            chats.push(format!("{phone}@c.us"));
        }
        chats.dedup();
        let at = |t: i64| chrono::DateTime::from_timestamp(t, 0).map(|d| d.naive_utc());
        let known: HashSet<&String> = ids.iter().collect();
        extra = db
            .chat_messages_between(
                session_id,
                chats,
                from.and_then(at),
                to.flatten().and_then(at),
                limit as i64,
            )
            .await?
            .into_iter()
            .filter(|r| r.wa_message_id.as_ref().is_some_and(|id| !known.contains(id)))
            .collect();
    }
    // Oldest first by time; the page's own order breaks ties.
    let mut all: Vec<(i64, usize, Option<WaMessage>, Option<MessageRow>)> = fetched
        .messages
        .iter()
        .enumerate()
        .map(|(i, m)| (m.t.unwrap_or(0), i, Some(m.clone()), rows.remove(&m.id)))
        .collect();
    let n = all.len();
    all.extend(extra.into_iter().enumerate().map(|(i, r)| {
        (
            r.sent_at.map(|t| t.and_utc().timestamp()).unwrap_or(0),
            n + i,
            None,
            Some(r),
        )
    }));
    all.sort_by_key(|(t, i, _, _)| (*t, *i));
    let truncated = all.len() > limit;
    let items: Vec<_> = all.into_iter().rev().take(limit).map(|(_, _, m, r)| (m, r)).collect();
    let oldest = items.last().and_then(|(m, r)| {
        m.as_ref()
            .map(|m| m.id.clone())
            .or_else(|| r.as_ref().and_then(|r| r.wa_message_id.clone()))
    });
    let next_before = if truncated || fetched.more { oldest } else { None };
    Ok(Merged { items, next_before })
}

/// A stored row in the shape of a page message (`schemas::PageMessage`).
pub(super) fn stored_as_page(r: &MessageRow) -> Value {
    json!({
        "messageId": r.wa_message_id,
        "chatId": r.chat_id,
        "fromMe": r.direction == "out",
        "author": r.sender,
        "authorPhone": r.sender_phone,
        "type": r.msg_type,
        "body": r.body,
        "caption": r.caption,
        "timestamp": r.sent_at.map(|t| t.and_utc()),
        "ack": null,
        "hasMedia": r.media_path.is_some() || r.media_mime.is_some(),
        "mimetype": r.media_mime,
        "filename": r.media_filename,
    })
}
