//! Voice and video calls to a linked account: the phone side places them (control API), the
//! linked page sees them ring in `WAWebCallCollection` (wa-web-surface §7.2 `call`), and a page
//! rejects one with a raw `<call><reject call-id call-creator count/></call>` stanza through
//! `WADeprecatedSendIq.deprecatedCastStanza` (§5.1 `Socket` / `SocketWap`), as the reference
//! client's `rejectCall` builds it. A call nobody rejects is missed after its ring time or when
//! the caller hangs up.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{SimControl, SimError, State, hex_id, now_secs};
use crate::Era;

/// How long a call rings before it is missed, unless the offer says otherwise (WhatsApp rings
/// for about 45 s).
pub const DEFAULT_RING: Duration = Duration::from_secs(45);

/// A call "someone" places to the account of a linked device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallOffer {
    /// The caller: `<n>@c.us` or `<n>@lid`.
    pub from: String,
    #[serde(default, alias = "isVideo")]
    pub is_video: bool,
    /// A group call (the caller invites the account with others).
    #[serde(default, alias = "isGroup")]
    pub is_group: bool,
    /// Seconds it rings before it is missed (default 45).
    #[serde(default, alias = "ringSecs")]
    pub ring_secs: Option<u64>,
}

/// Where a call stands, as the caller's side sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallState {
    Ringing,
    /// A linked device (or the phone) turned it down: the caller heard "declined".
    Rejected,
    /// Nobody answered before the ring time, or the caller hung up first.
    Missed,
}

/// A call as WhatsApp's servers saw it.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    /// WhatsApp's call id (32 uppercase hex digits).
    pub id: String,
    /// The called account's phone number (the linked device's).
    pub phone: String,
    /// The caller as given (`<n>@c.us` or `<n>@lid`).
    pub from: String,
    pub is_video: bool,
    pub is_group: bool,
    pub state: CallState,
    /// Unix seconds.
    pub offered_at: u64,
    pub ended_at: Option<u64>,
    /// The reject stanza's attributes as the page sent them (`from`, `to`, `call-id`,
    /// `call-creator`, `count`), when a page rejected the call.
    pub reject_stanza: Option<Value>,
}

/// `@s.whatsapp.net` is the wire form of `@c.us` (the reference client's older rejectCall uses it).
fn user_id(jid: &str) -> String {
    match jid.strip_suffix("@s.whatsapp.net") {
        Some(user) => format!("{user}@c.us"),
        None => jid.to_string(),
    }
}

impl SimControl {
    /// Places a call from `offer.from` to the account linked as `device_phone`; its open page
    /// sees it ring (on a 2026-09 page the caller is a LID, with the phone when WhatsApp shares
    /// it). Returns the call id. It is missed after `ring_secs` unless rejected first.
    pub async fn offer_call(&self, device_phone: &str, offer: CallOffer) -> Result<String, SimError> {
        if !["@c.us", "@lid"].iter().any(|s| offer.from.ends_with(s)) {
            return Err(SimError::Invalid("from must be a @c.us or @lid user id".into()));
        }
        let ring = offer.ring_secs.map_or(DEFAULT_RING, Duration::from_secs);
        if ring.is_zero() || ring > Duration::from_secs(600) {
            return Err(SimError::Invalid("ring_secs is 1 to 600".into()));
        }
        let id = {
            let mut st = self.lock();
            let device =
                Self::device_by_phone(&st, device_phone).ok_or_else(|| SimError::UnknownDevice(device_phone.into()))?;
            let (device_id, phone) = (device.info.device_id.clone(), device.info.phone.clone());
            let (mut caller, mut caller_pn) = (offer.from.clone(), None);
            if Self::device_era(&st, &device_id) == Era::Sep2026 {
                caller_pn = Self::shared_pn(&st, &caller);
                if let Some(p) = caller.strip_suffix("@c.us") {
                    caller = format!("{}@lid", Self::lid_of(&mut st, p));
                }
            }
            let id = hex_id(16);
            let t = now_secs();
            st.calls.push(CallRecord {
                id: id.clone(),
                phone,
                from: offer.from.clone(),
                is_video: offer.is_video,
                is_group: offer.is_group,
                state: CallState::Ringing,
                offered_at: t,
                ended_at: None,
                reject_stanza: None,
            });
            // A call is live: a device without an open page does not get it later.
            if let Some(page) = Self::page_of(&st, &device_id) {
                let call = json!({
                    "id": id, "from": caller, "fromPn": caller_pn, "isVideo": offer.is_video,
                    "isGroup": offer.is_group, "t": t,
                });
                Self::push(&mut st, &page, json!({ "type": "call_offer", "call": call }));
            }
            id
        };
        let (control, call) = (self.clone(), id.clone());
        tokio::spawn(async move {
            tokio::time::sleep(ring).await;
            let _ = control.end_call(&call).await;
        });
        Ok(id)
    }

    /// The caller hangs up (or the ring time ran out): a call still ringing is missed, and the
    /// linked pages stop showing it. A call already over stays as it ended.
    pub async fn end_call(&self, call_id: &str) -> Result<CallRecord, SimError> {
        let mut st = self.lock();
        let call = Self::finish(&mut st, call_id, CallState::Missed, None)?;
        Ok(call)
    }

    /// Every call placed to the account linked as `device_phone`, oldest first.
    pub async fn calls(&self, device_phone: &str) -> Vec<CallRecord> {
        let phone = device_phone.trim_start_matches('+');
        self.lock().calls.iter().filter(|c| c.phone == phone).cloned().collect()
    }

    /// Ends a ringing call (`state`), telling the device's pages; a call already over is left
    /// as it is.
    fn finish(st: &mut State, call_id: &str, state: CallState, stanza: Option<Value>) -> Result<CallRecord, SimError> {
        let call = st
            .calls
            .iter_mut()
            .find(|c| c.id == call_id)
            .ok_or_else(|| SimError::UnknownCall(call_id.into()))?;
        if call.state != CallState::Ringing {
            return Ok(call.clone());
        }
        call.state = state;
        call.ended_at = Some(now_secs());
        call.reject_stanza = stanza;
        let (call, phone) = (call.clone(), call.phone.clone());
        if let Some(device_id) = Self::device_by_phone(st, &phone).map(|d| d.info.device_id.clone()) {
            let pages: Vec<String> = st
                .pages
                .iter()
                .filter(|(_, p)| p.device_id == device_id && !p.gone)
                .map(|(id, _)| id.clone())
                .collect();
            let reason = match state {
                CallState::Rejected => "rejected",
                _ => "missed",
            };
            for page in pages {
                Self::push(
                    st,
                    &page,
                    json!({ "type": "call_end", "id": call_id, "reason": reason }),
                );
            }
        }
        Ok(call)
    }

    /// A stanza a page cast (`WADeprecatedSendIq.deprecatedCastStanza`): `{tag, attrs, content}`.
    /// Only `<call>` with one `<reject call-id call-creator count/>` is understood: the call
    /// must be one placed to this page's account by the `call-creator` (a phone id, its LID, or
    /// the wire form `<n>@s.whatsapp.net`). Errors read as WhatsApp's (`bad-request (400)`, …).
    pub(crate) fn cast_stanza(&self, page_id: &str, stanza: &Value) -> Result<(), String> {
        let mut st = self.lock();
        let phone = Self::linked_phone(&st, page_id)?;
        if stanza["tag"] != "call" {
            return Err(format!(
                "bad-request (400): unsupported stanza <{}>",
                stanza["tag"].as_str().unwrap_or("?")
            ));
        }
        let children = stanza["content"].as_array().cloned().unwrap_or_default();
        let [child] = children.as_slice() else {
            return Err("bad-request (400): <call> takes one child".into());
        };
        if child["tag"] != "reject" {
            return Err(format!(
                "bad-request (400): unsupported <call><{}/>",
                child["tag"].as_str().unwrap_or("?")
            ));
        }
        let attr = |k: &str| child["attrs"][k].as_str().unwrap_or_default().to_string();
        let call_id = attr("call-id");
        let call = st
            .calls
            .iter()
            .find(|c| c.id == call_id && c.phone == phone)
            .cloned()
            .ok_or_else(|| format!("item-not-found (404): no call {call_id} to this account"))?;
        if call.state != CallState::Ringing {
            return Err(format!("item-not-found (404): call {call_id} is over"));
        }
        let creator = Self::phone_id(&st, &user_id(&attr("call-creator")));
        if creator.is_none() || creator != Self::phone_id(&st, &call.from) {
            return Err("bad-request (400): call-creator is not the caller".into());
        }
        let to = stanza["attrs"]["to"].as_str().map(user_id);
        if to.is_none() || Self::phone_id(&st, to.as_deref().unwrap_or_default()) != creator {
            return Err("bad-request (400): the stanza is not addressed to the caller".into());
        }
        Self::finish(
            &mut st,
            &call_id,
            CallState::Rejected,
            Some(json!({
                "from": stanza["attrs"]["from"], "to": stanza["attrs"]["to"], "call-id": call_id,
                "call-creator": attr("call-creator"), "count": attr("count"),
            })),
        )
        .map(drop)
        .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use tokio::sync::Notify;

    use super::super::{Device, DeviceInfo, Page};
    use super::*;
    use crate::SimConfig;

    /// A simulator with one linked device (`15550000001`) whose page `page` is open.
    fn linked() -> SimControl {
        let c = SimControl::new(SimConfig::default());
        let mut st = c.lock();
        st.devices.insert(
            "dev".into(),
            Device {
                info: DeviceInfo {
                    device_id: "dev".into(),
                    phone: "15550000001".into(),
                    lid: "1".into(),
                    push_name: String::new(),
                    linked_at: 0,
                    online: true,
                },
                pending: Vec::new(),
                received: Vec::new(),
                chats: Vec::new(),
                contacts: Vec::new(),
            },
        );
        st.pages.insert(
            "page".into(),
            Page {
                era: Era::Jan2026,
                device_id: "dev".into(),
                state: "CONNECTED".into(),
                qr: None,
                pairing: None,
                queue: Vec::new(),
                notify: Arc::new(Notify::new()),
                last_seen: Instant::now(),
                gone: false,
            },
        );
        drop(st);
        c
    }

    fn offer(from: &str, ring_secs: Option<u64>) -> CallOffer {
        CallOffer {
            from: from.into(),
            is_video: true,
            is_group: false,
            ring_secs,
        }
    }

    fn reject(call_id: &str, creator: &str) -> Value {
        json!({
            "tag": "call",
            "attrs": { "id": "1.1", "from": "15550000001@c.us", "to": creator },
            "content": [{ "tag": "reject", "attrs": { "call-id": call_id, "call-creator": creator, "count": "0" }, "content": null }],
        })
    }

    #[tokio::test]
    async fn a_reject_stanza_ends_the_call_for_the_caller_and_the_pages() {
        let c = linked();
        let id = c
            .offer_call("15550000001", offer("15550000002@c.us", None))
            .await
            .unwrap();
        let queued = std::mem::take(&mut c.lock().pages.get_mut("page").unwrap().queue);
        assert_eq!(queued[0]["type"], "call_offer");
        assert_eq!(
            (queued[0]["call"]["id"].as_str(), queued[0]["call"]["isVideo"].as_bool()),
            (Some(id.as_str()), Some(true))
        );

        // Wrong caller, unknown call, other stanzas: refused, nothing changes.
        for bad in [
            reject(&id, "15550000009@c.us"),
            reject("NOPE", "15550000002@c.us"),
            json!({ "tag": "call", "attrs": {}, "content": [{ "tag": "accept", "attrs": {} }] }),
            json!({ "tag": "iq", "attrs": {}, "content": [] }),
        ] {
            assert!(c.cast_stanza("page", &bad).is_err(), "{bad}");
        }
        assert_eq!(c.calls("15550000001").await[0].state, CallState::Ringing);

        // The wire form of the caller's id is the same user.
        c.cast_stanza("page", &reject(&id, "15550000002@s.whatsapp.net"))
            .unwrap();
        let call = &c.calls("15550000001").await[0];
        assert_eq!(call.state, CallState::Rejected);
        assert_eq!(call.reject_stanza.as_ref().unwrap()["count"], "0");
        let queued = std::mem::take(&mut c.lock().pages.get_mut("page").unwrap().queue);
        assert_eq!(queued[0], json!({ "type": "call_end", "id": id, "reason": "rejected" }));

        // Once over, a reject finds nothing ringing.
        let again = c.cast_stanza("page", &reject(&id, "15550000002@c.us")).unwrap_err();
        assert!(again.contains("(404)"), "{again}");

        // The caller hanging up afterwards changes nothing.
        assert_eq!(c.end_call(&id).await.unwrap().state, CallState::Rejected);
        assert!(matches!(c.end_call("NOPE").await, Err(SimError::UnknownCall(_))));
    }

    #[tokio::test]
    async fn an_unanswered_call_is_missed_after_its_ring_time() {
        let c = linked();
        assert!(
            c.offer_call("15550000001", offer("15550000002@g.us", None))
                .await
                .is_err()
        );
        assert!(
            c.offer_call("15550000009", offer("15550000002@c.us", None))
                .await
                .is_err()
        );
        let id = c
            .offer_call("15550000001", offer("15550000002@c.us", Some(1)))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let call = &c.calls("15550000001").await[0];
        assert_eq!((call.id.as_str(), call.state), (id.as_str(), CallState::Missed));
        assert!(call.ended_at.is_some());
    }
}
