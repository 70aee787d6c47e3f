//! Calls to a session's account: its call settings (columns of `whatsapp_sessions`) and the
//! `call.received` / `call.rejected` events, which are stored as events only (a call is no
//! message).

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::schema::whatsapp_sessions as ws;
use super::{Database, DbResult, EventKind, dispatch};

/// How a session answers incoming calls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = ws, check_for_backend(diesel::sqlite::Sqlite, diesel::pg::Pg))]
pub struct CallSettings {
    /// Reject every incoming call as soon as it rings.
    pub reject_calls: bool,
    /// Sent to the caller after an automatic rejection (through the session's queue); None: nothing.
    pub call_reply_text: Option<String>,
}

/// A change of [`CallSettings`]; None leaves a field as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = ws)]
pub struct CallSettingsChange {
    pub reject_calls: Option<bool>,
    /// `Some(None)` clears the reply text.
    pub call_reply_text: Option<Option<String>>,
}

/// Who rejected a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RejectedBy {
    /// `POST /api/v1/calls/{callId}/reject/`.
    Api,
    /// The session's `rejectCalls` setting.
    Auto,
}

/// A call as `call.received` and `call.rejected` show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallFacts {
    /// WhatsApp's call id.
    pub call_id: String,
    /// The caller: `<n>@c.us` or `<n>@lid`.
    pub from: Option<String>,
    /// The caller's phone number (digits), when known.
    pub from_phone: Option<String>,
    pub is_video: bool,
    pub is_group: bool,
    /// When the call was offered, unix seconds.
    pub offered_at: Option<i64>,
}

impl CallFacts {
    /// `{callId, from, fromPhone, isVideo, isGroup, timestamp}` (timestamp: unix seconds of the
    /// offer); `call.rejected` adds `rejectedBy` (`api` or `auto`) and `replyDbId` (the stored
    /// reply text's id, or null).
    pub fn payload(&self, rejected: Option<(RejectedBy, Option<i64>)>) -> Value {
        let mut v = json!({
            "callId": self.call_id,
            "from": self.from,
            "fromPhone": self.from_phone,
            "isVideo": self.is_video,
            "isGroup": self.is_group,
            "timestamp": self.offered_at,
        });
        if let Some((by, reply)) = rejected {
            v["rejectedBy"] = json!(by);
            v["replyDbId"] = json!(reply);
        }
        v
    }
}

impl Database {
    /// The session's call settings; None when there is no such session.
    pub async fn call_settings(&self, session_id: i64) -> DbResult<Option<CallSettings>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| ws::table
                .find(session_id)
                .select(CallSettings::as_select())
                .first(c)
                .await
                .optional())?)
        })
        .await
    }

    /// Changes the session's call settings and returns them; None when there is no such session.
    pub async fn set_call_settings(
        &self,
        session_id: i64,
        change: CallSettingsChange,
    ) -> DbResult<Option<CallSettings>> {
        if change.reject_calls.is_some() || change.call_reply_text.is_some() {
            self.run_write(move |mut conn| async move {
                dispatch!(&mut conn, |c| diesel::update(ws::table.find(session_id))
                    .set(&change)
                    .execute(c)
                    .await)?;
                Ok(())
            })
            .await?;
        }
        self.call_settings(session_id).await
    }

    /// A `call.received` (`rejected` None) or `call.rejected` event of the session, once per call
    /// (a second report of the same call id is skipped). Refused with `DbError::Fenced` (nothing
    /// written) unless `fence` still holds the session's lease.
    pub async fn record_call(
        &self,
        session_id: i64,
        call: CallFacts,
        rejected: Option<(RejectedBy, Option<i64>)>,
        fence: Option<super::cluster::Fence>,
    ) -> DbResult<()> {
        let kind = match rejected {
            None => EventKind::CallReceived,
            Some(_) => EventKind::CallRejected,
        };
        let payload = call.payload(rejected);
        let once = call.call_id.clone();
        self.record_session_event_once(session_id, kind, Some(&once), |_| payload, fence)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_payloads_name_the_caller_and_who_rejected() {
        let call = CallFacts {
            call_id: "CB8A".into(),
            from: Some("12345@lid".into()),
            from_phone: Some("15550002002".into()),
            is_video: true,
            is_group: false,
            offered_at: Some(1764028800),
        };
        assert_eq!(
            call.payload(None),
            json!({"callId": "CB8A", "from": "12345@lid", "fromPhone": "15550002002", "isVideo": true, "isGroup": false, "timestamp": 1764028800})
        );
        let rejected = call.payload(Some((RejectedBy::Auto, Some(7))));
        assert_eq!(
            (rejected["rejectedBy"].as_str(), rejected["replyDbId"].as_i64()),
            (Some("auto"), Some(7))
        );
        assert_eq!(call.payload(Some((RejectedBy::Api, None)))["replyDbId"], Value::Null);
    }
}
