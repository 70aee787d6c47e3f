//! Publishing a session's state: the database first, then the watch, then the event sink.

use super::Actor;
use crate::db::SessionStatusUpdate;
use crate::sessions::events::SessionEvent;
use crate::sessions::state::{SessionInfo, SessionState};

impl Actor {
    pub(super) fn current(&self) -> SessionState {
        self.info.borrow().state
    }

    /// Publishes a transition (when the state or reason changed) to the watch, the database and
    /// the event sink.
    pub(super) async fn publish(&mut self, state: SessionState, reason: Option<String>) {
        self.publish_with(state, reason, |_| {}).await
    }

    /// `publish`, applying `also` to the info in the same update.
    pub(super) async fn publish_with(
        &mut self,
        state: SessionState,
        reason: Option<String>,
        also: impl FnOnce(&mut SessionInfo),
    ) {
        let changed = {
            let cur = self.info.borrow();
            cur.state != state || cur.reason != reason
        };
        if !changed {
            return;
        }
        // The database first: whoever sees the new state in the watch finds it recorded.
        let mut info = self.info.borrow().clone();
        info.state = state;
        info.reason = reason.clone();
        info.since = chrono::Utc::now();
        if state != SessionState::QrPending {
            info.qr = None;
            info.qr_png = None;
        }
        also(&mut info);
        tracing::info!(
            session = self.key.id,
            state = state.as_str(),
            reason = reason.as_deref().unwrap_or(""),
            "session state"
        );
        let update = SessionStatusUpdate {
            status: state.as_str().to_string(),
            status_reason: reason,
            phone_number: info.phone.clone(),
            wid: info.wid.clone(),
            push_name: info.push_name.clone(),
            last_error: info.last_error.clone(),
            updated_at: crate::db::now(),
            connected_at: self.connected_at,
        };
        metrics::counter!("wagate_session_state_changes_total", "state" => state.as_str()).increment(1);
        match self
            .db
            .record_session_state_as(self.key.id, update, self.fence.clone())
            .await
        {
            Ok(()) => {}
            Err(crate::db::DbError::Fenced) => {
                // Another node adopted the session (this one was paused or cut off): stop here,
                // without writing anything more.
                tracing::warn!(
                    session = self.key.id,
                    "lease lost: this node no longer owns the session; stopping it"
                );
                self.rx.close();
                return;
            }
            Err(e) => tracing::error!(session = self.key.id, error = %e, "could not record the session state"),
        }
        self.info.send_replace(info.clone());
        let _ = self
            .sink
            .send(SessionEvent::State {
                session: self.key.clone(),
                info,
            })
            .await;
    }
}
