//! The consumer of session events: incoming messages are stored (direction `in`, once per
//! WhatsApp id) and acks move outgoing messages forward (the highest ack wins); the database
//! writes the matching outbox events in the same transactions.

use tokio::sync::mpsc;

use crate::db::{Database, DbError, MessageKind, MessageStatus, NewMessage};
use crate::sessions::{SessionEvent, SessionKey, WaMessage};

pub async fn consume(db: Database, mut events: mpsc::Receiver<SessionEvent>) {
    while let Some(event) = events.recv().await {
        if let Err(e) = handle(&db, event).await {
            tracing::error!(error = %e, "could not persist a session event");
        }
    }
}

async fn handle(db: &Database, event: SessionEvent) -> Result<(), DbError> {
    match event {
        SessionEvent::Incoming { session, message } => store_incoming(db, &session, message).await,
        SessionEvent::Ack { id, ack, .. } => {
            let status = MessageStatus::from_ack(ack);
            let changed = db.advance_message_status(&id, status).await?;
            record_ack_latency(&changed, ack);
            if changed.is_empty() && db.message_by_wa_id(&id).await?.is_none() {
                // The ack overtook the send's own bookkeeping (the row gets its WhatsApp id when
                // the send returns): try again shortly rather than lose it.
                let db = db.clone();
                tokio::spawn(async move {
                    for delay in [1, 3, 10] {
                        tokio::time::sleep(std::time::Duration::from_secs(delay)).await;
                        if let Ok(changed) = db.advance_message_status(&id, status).await
                            && !changed.is_empty()
                        {
                            record_ack_latency(&changed, ack);
                            break;
                        }
                    }
                });
            }
            Ok(())
        }
        SessionEvent::OwnMessage { message, .. } => {
            if let Some(ack) = message.ack.filter(|a| *a > 0) {
                db.advance_message_status(&message.id, MessageStatus::from_ack(ack))
                    .await?;
            }
            Ok(())
        }
        SessionEvent::State { .. } => Ok(()),
    }
}

/// How long after the send each ack came (`wagate_ack_latency_seconds{ack}`).
fn record_ack_latency(rows: &[crate::db::MessageRow], ack: i32) {
    let now = crate::db::now();
    for sent_at in rows.iter().filter_map(|r| r.sent_at) {
        let secs = (now - sent_at).num_milliseconds().max(0) as f64 / 1000.0;
        metrics::histogram!("wagate_ack_latency_seconds", "ack" => ack.to_string()).record(secs);
    }
}

async fn store_incoming(db: &Database, session: &SessionKey, m: WaMessage) -> Result<(), DbError> {
    let now = crate::db::now();
    let chat = m.remote.clone().or(m.from.clone()).unwrap_or_default();
    let sent_at =
        m.t.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
            .map(|t| t.naive_utc());
    db.insert_incoming(NewMessage {
        user_id: session.user_id,
        session_id: Some(session.id),
        direction: "in".into(),
        chat_id: chat,
        sender: m.author.clone().or(m.from.clone()),
        msg_type: MessageKind::parse(m.kind.as_deref().unwrap_or_default()),
        body: m.body.clone(),
        caption: m.caption.clone(),
        media_path: m.saved_media.clone(),
        media_mime: m.mimetype.clone(),
        media_filename: m.filename.as_deref().map(crate::media::safe_filename),
        media_size: m.size,
        status: MessageStatus::Received.as_str().into(),
        error_message: None,
        wa_message_id: Some(m.id.clone()),
        created_at: now,
        updated_at: now,
        sent_at,
        idempotency_key: None,
        sender_phone: m.author_phone.clone(),
        error_code: None,
        expires_at: None,
        idempotency_fingerprint: None,
    })
    .await?;
    Ok(())
}
