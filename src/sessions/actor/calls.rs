//! Incoming calls: each one is reported (`call.received`). With the session's `rejectCalls` on,
//! the actor rejects it at once on the page (it owns the page, and a ringing call does not wait
//! for a round trip through the handle), reports `call.rejected` (by `auto`) and hands the
//! optional reply text to the session's queue, where it is stored, paced and sent like any send
//! (the queue sets it `queued`).

use super::{Actor, CALL_TIMEOUT};
use crate::browser::protocol::Request;
use crate::db::{MessageKind, NewMessage, RejectedBy};
use crate::sessions::{ChatId, SessionEvent, WaCall};

impl Actor {
    pub(super) async fn on_call(&mut self, call: WaCall) {
        if call.outgoing {
            return;
        }
        self.report_call(call.clone(), None).await;
        let settings = match self.db.call_settings(self.key.id).await {
            Ok(Some(s)) if s.reject_calls => s,
            Ok(_) => return,
            Err(e) => {
                return tracing::warn!(session = self.key.id, error = %e, "could not read the call settings; the call rings on");
            }
        };
        let request = Request::RejectCall {
            call_id: call.id.clone(),
        };
        if let Err(e) = self.request::<WaCall>(&request, CALL_TIMEOUT).await {
            return tracing::warn!(session = self.key.id, call = %call.id, error = %e, "could not reject a call automatically");
        }
        let reply = match settings.call_reply_text {
            Some(text) => self.queue_call_reply(&call, text).await,
            None => None,
        };
        self.report_call(call, Some((RejectedBy::Auto, reply))).await;
    }

    async fn report_call(&self, call: WaCall, rejected: Option<(RejectedBy, Option<i64>)>) {
        let event = SessionEvent::Call {
            session: self.key.clone(),
            call,
            rejected,
            fence: self.fence.clone(),
        };
        let _ = self.sink.send(event).await;
    }

    /// Queues `text` to the caller (by phone number when the page knows it); the stored row's id,
    /// or None when it could not be queued (logged).
    async fn queue_call_reply(&self, call: &WaCall, text: String) -> Option<i64> {
        let to = call.from_phone.as_deref().or(call.from.as_deref())?;
        let chat = match ChatId::parse(to) {
            Ok(chat) => chat,
            Err(e) => {
                tracing::warn!(session = self.key.id, caller = to, error = %e, "no chat to answer a rejected call in");
                return None;
            }
        };
        let mut row = NewMessage::outgoing(
            self.key.user_id,
            self.key.id,
            chat.to_string(),
            chat.phone().map(str::to_string),
            MessageKind::Chat,
        );
        row.body = Some(text);
        match self.outbox.submit(row).await {
            Ok(submitted) => Some(submitted.row.id),
            Err(e) => {
                tracing::warn!(session = self.key.id, error = %e, "could not queue the reply to a rejected call");
                None
            }
        }
    }
}
