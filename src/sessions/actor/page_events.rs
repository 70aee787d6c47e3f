//! The session's loop: the page rings with its events (or a poll tick comes and the actor drains
//! the page's queue); the actor acts on each event and takes commands in between.

use std::time::Duration;

use base64::Engine as _;
use tokio::time::Instant;

use super::{
    Actor, BOOT_SETTLE, CALL_TIMEOUT, MIN_TICK, Outcome, RECONCILE_MAX, RECONCILE_SLACK_SECS, REVOKE_WINDOW_SECS,
    SAFETY_POLL,
};
use crate::browser::Install;
use crate::browser::bidi::Doorbell;
use crate::browser::protocol::{Downloaded, Me, PageEvent, PasskeyPrompt, Pushed, Request, WaChange};
use crate::sessions::events::{SessionEvent, WaGroupNote, WaMessage};
use crate::sessions::qr;
use crate::sessions::state::{SessionInfo, SessionState, map_wa_state};

/// Events taken from rings before a drain acknowledges them, so the page's queue stays short.
const PUSHED_UNACKED_MAX: u64 = 200;

impl Actor {
    /// The session's loop. With a doorbell, the page's events come with its rings (the queue is
    /// drained only when a ring says so, see `take_pushed`, and by a slow safety poll); without
    /// one, the page is polled, faster after activity and after each command.
    pub(super) async fn drive(&mut self, mut bell: Option<Doorbell>) -> Outcome {
        let mut tick = MIN_TICK;
        let polling_max = Duration::from_millis(self.settings.sessions.poll_max_ms).max(MIN_TICK);
        let mut max_tick = match bell {
            Some(_) => SAFETY_POLL,
            None => polling_max,
        };
        let mut next = Instant::now();
        let mut failures = 0u32;
        loop {
            let probe_at = self.probe_due();
            tokio::select! {
                _ = async { match probe_at { Some(at) => tokio::time::sleep_until(at).await, None => std::future::pending().await } } => {
                    if let Err(lost) = self.probe().await {
                        return Outcome::BrowserLost(lost);
                    }
                }
                rang = async { match bell.as_mut() { Some(b) => b.ring().await, None => std::future::pending().await } } => {
                    if let Some(crate::browser::bidi::Ring { events: Some(pushed) }) = rang {
                        match self.take_pushed(&pushed).await {
                            // Taken: a drain only to acknowledge a long run of them.
                            Ok(false) => continue,
                            Ok(true) => {}
                            Err(PollError::Outcome(o)) => return o,
                            Err(PollError::Transient(e)) => {
                                tracing::debug!(session = self.key.id, error = %e, "pushed events: draining instead");
                            }
                        }
                    } else if rang.is_none() {
                        // The WebSocket is gone; the browser may not be. A new connection to the
                        // same BiDi session restores push; failing that, the page is polled. The
                        // drain below reads whatever was queued meanwhile (nothing is lost: the
                        // page's queue, not the rings, holds the events).
                        if let Some(lost) = bell.take() {
                            match lost.reconnect().await {
                                Ok(new) => {
                                    tracing::info!(session = self.key.id, "BiDi push lost and reconnected");
                                    metrics::counter!("wagate_bidi_reconnects_total").increment(1);
                                    bell = Some(new);
                                }
                                Err(e) => tracing::warn!(session = self.key.id, error = %e, "BiDi push lost; polling the page instead"),
                            }
                        }
                        if let Some(page) = &self.page {
                            page.use_bidi(bell.as_ref().map(Doorbell::script));
                        }
                        if bell.is_none() {
                            tick = MIN_TICK;
                            max_tick = polling_max;
                        }
                    }
                    next = Instant::now();
                }
                cmd = self.rx.recv() => {
                    let Some(cmd) = cmd else {
                        return Outcome::Stop { reply: None, record: false };
                    };
                    if let Some(outcome) = self.command(cmd).await {
                        return outcome;
                    }
                    // A polled page is drained right after a command, for what it caused. A page
                    // with a doorbell rings for that itself: a drain here cost a page round trip
                    // per command and held the next command back (7.6 ms of a sequential send's
                    // 29 ms, mean).
                    if bell.is_none() {
                        tick = MIN_TICK;
                        next = Instant::now();
                    }
                }
                _ = tokio::time::sleep_until(next) => {
                    match self.poll().await {
                        Ok(active) => {
                            failures = 0;
                            tick = match (active, bell.is_some()) {
                                // Drain again soon after activity: a burst, or a new document
                                // whose bridge is not installed yet.
                                (true, _) => MIN_TICK,
                                // The page rings for anything new: only a safety poll.
                                (false, true) => max_tick,
                                (false, false) => (tick * 3 / 2).min(max_tick),
                            };
                        }
                        Err(PollError::Outcome(o)) => return o,
                        Err(PollError::Transient(e)) => {
                            failures += 1;
                            tracing::debug!(session = self.key.id, error = %e, failures, "poll failed");
                            if failures >= 3 && !self.browser_alive().await {
                                return Outcome::BrowserLost(format!("browser unreachable: {e}"));
                            }
                            if failures >= 50 {
                                return Outcome::BrowserLost(format!("the page stopped answering: {e}"));
                            }
                            tick = MIN_TICK * 2;
                        }
                    }
                    next = Instant::now() + tick;
                }
            }
        }
    }

    /// Takes the events a ring carried (see `browser::bidi`). Ok(true) when the page's queue
    /// must be drained: the ring is from a document not drained yet, a sequence number is
    /// missing (a lost ring, an overflow), enough taken events wait for their acknowledgement,
    /// or WhatsApp's state changed while the document is not synced (the drain's snapshot tells
    /// whether it still is: a reconnect within the document raises no `synced` event again).
    async fn take_pushed(&mut self, json: &str) -> Result<bool, PollError> {
        let pushed: Pushed = serde_json::from_str(json).map_err(|e| PollError::Transient(format!("a ring: {e}")))?;
        if self.doc.bridge.as_deref() != Some(pushed.doc.as_str()) {
            return Ok(true);
        }
        let mut state_changed = false;
        for queued in pushed.events {
            if queued.seq <= self.doc.last_seq {
                // A drain took it already.
                continue;
            }
            if queued.seq != self.doc.last_seq + 1 {
                return Ok(true);
            }
            self.doc.last_seq = queued.seq;
            self.doc.unacked += 1;
            state_changed |= matches!(queued.event, Ok(PageEvent::State(_)));
            self.take_event(queued.event).await?;
        }
        Ok(self.doc.unacked >= PUSHED_UNACKED_MAX || (state_changed && !self.doc.synced))
    }

    pub(super) async fn poll(&mut self) -> Result<bool, PollError> {
        let page = self.page.clone().ok_or(PollError::Transient("no page".into()))?;
        let drain = match page.drain(self.doc.last_seq, self.doc.bridge.as_deref()).await {
            Ok(Some(d)) => {
                if self.doc.bridge.is_some() && d.doc != self.doc.bridge {
                    // A document the actor did not see arrive, whose bridge a call installed
                    // (`with_bridge`): the page answered from its start; what the old document
                    // knew goes with it, as after a reload.
                    self.doc.reset();
                }
                self.doc.installed = true;
                d
            }
            Ok(None) => {
                // A new document (reload, logout redirect): re-install once WhatsApp's modules are
                // up and settled (bounded, as at boot).
                let started = match self.doc.boot_started {
                    Some(t) if !self.doc.installed => t,
                    _ => {
                        self.doc.reset();
                        let now = Instant::now();
                        self.doc.boot_started = Some(now);
                        now
                    }
                };
                if page
                    .wa_version()
                    .await
                    .map_err(|e| PollError::Transient(e.to_string()))?
                    .is_some()
                {
                    let force = started.elapsed() >= BOOT_SETTLE;
                    let installed = page
                        .install(force)
                        .await
                        .map_err(|e| PollError::Transient(e.to_string()))?;
                    if installed == Install::Installed {
                        self.doc.installed = true;
                        self.refresh_capabilities().await;
                    }
                }
                return Ok(true);
            }
            Err(e) => return Err(PollError::Transient(e.to_string())),
        };
        self.doc.bridge = drain.doc.clone();
        self.doc.unacked = 0;
        if drain.dropped > 0 {
            tracing::warn!(
                session = self.key.id,
                dropped = drain.dropped,
                "page event queue overflowed before a drain acknowledged it: events that did not come with a ring are lost"
            );
        }
        let active = !drain.events.is_empty();
        for queued in drain.events {
            self.doc.last_seq = self.doc.last_seq.max(queued.seq);
            self.take_event(queued.event).await?;
        }
        self.doc.last_seq = self.doc.last_seq.max(drain.seq);
        // A passkey prompt that started before the bridge was there.
        if let Some(pk) = drain.snapshot.passkey.filter(|p| p.state == "PENDING")
            && !matches!(self.current(), SessionState::PasskeyRequired | SessionState::Connected)
        {
            self.on_passkey(pk).await;
        }
        // Resynchronise from state, in case an event was lost in a reload gap.
        if drain.snapshot.has_synced && !self.doc.synced && drain.snapshot.state.as_deref() == Some("CONNECTED") {
            self.on_synced(drain.snapshot.me.unwrap_or_default()).await?;
        }
        Ok(active)
    }

    /// One queued event, pushed or drained; one this gateway cannot read is logged and skipped.
    async fn take_event(&mut self, event: Result<PageEvent, String>) -> Result<(), PollError> {
        match event {
            Ok(event) => self.on_event(event).await,
            Err(e) => {
                tracing::warn!(session = self.key.id, error = %e, "an event from the page could not be read");
                Ok(())
            }
        }
    }

    pub(super) async fn on_event(&mut self, event: PageEvent) -> Result<(), PollError> {
        match event {
            PageEvent::State(wa) => return self.on_wa_state(wa).await,
            PageEvent::Qr(payload) => {
                let png = qr::png_data_url(&payload);
                let set = |i: &mut SessionInfo| {
                    i.qr = Some(payload);
                    i.qr_png = png;
                };
                if matches!(self.current(), SessionState::Pairing | SessionState::QrPending) {
                    self.info.send_modify(set);
                } else {
                    // State and QR change together: whoever sees the QR sees `qr_pending`.
                    self.publish_with(
                        SessionState::QrPending,
                        Some("scan the QR code with WhatsApp".into()),
                        set,
                    )
                    .await;
                }
            }
            PageEvent::Code(code) => self.info.send_modify(|i| i.pairing_code = code),
            PageEvent::Loading(pct) => {
                let pct = pct.min(100);
                self.info.send_modify(|i| i.loading = Some(pct));
                if !self.doc.synced {
                    self.report_sync(pct, false).await;
                }
            }
            PageEvent::Synced(me) => return self.on_synced(me).await,
            PageEvent::Logout(how) => {
                return Err(PollError::Outcome(Outcome::LoggedOut(format!("logged out ({how})"))));
            }
            PageEvent::MsgAdd(mut message) => {
                if message.has_media {
                    message.saved_media = self.save_incoming_media(&message).await;
                }
                let session = self.key.clone();
                let _ = self
                    .sink
                    .send(SessionEvent::Incoming {
                        session,
                        message,
                        fence: self.fence.clone(),
                    })
                    .await;
            }
            PageEvent::MsgCreate(message) => {
                let session = self.key.clone();
                let _ = self
                    .sink
                    .send(SessionEvent::OwnMessage {
                        session,
                        message,
                        fence: self.fence.clone(),
                    })
                    .await;
            }
            PageEvent::MsgAck { id, ack } => {
                let session = self.key.clone();
                let _ = self
                    .sink
                    .send(SessionEvent::Ack {
                        session,
                        id,
                        ack,
                        fence: self.fence.clone(),
                    })
                    .await;
            }
            PageEvent::Reaction(reaction) => {
                let session = self.key.clone();
                let _ = self.sink.send(SessionEvent::Reaction { session, reaction }).await;
            }
            PageEvent::Group(note) => {
                let session = self.key.clone();
                let _ = self
                    .sink
                    .send(SessionEvent::Group {
                        session,
                        note,
                        fence: self.fence.clone(),
                    })
                    .await;
            }
            PageEvent::Call(call) => self.on_call(call).await,
            PageEvent::Presence(presence) => {
                let session = self.key.clone();
                let _ = self.sink.send(SessionEvent::Presence { session, presence }).await;
            }
            PageEvent::PollVote(vote) => {
                let session = self.key.clone();
                let _ = self.sink.send(SessionEvent::PollVote { session, vote }).await;
            }
            PageEvent::MsgType { id, kind } if kind.as_deref() == Some("revoked") => {
                let session = self.key.clone();
                let _ = self.sink.send(SessionEvent::Revoked { session, id }).await;
            }
            PageEvent::MsgType { .. } => {}
            PageEvent::MsgEdit { id, body } => {
                let session = self.key.clone();
                let _ = self.sink.send(SessionEvent::Edited { session, id, body }).await;
            }
            PageEvent::LidPairs(pairs) => {
                let pairs = pairs.into_iter().map(|p| (p.lid, p.phone)).collect();
                if let Err(e) = self.db.record_lid_pairs(self.key.user_id, self.key.id, pairs).await {
                    tracing::warn!(session = self.key.id, error = %e, "could not record LID pairs");
                }
            }
            PageEvent::Passkey(prompt) => self.on_passkey(prompt).await,
            PageEvent::Error(detail) => tracing::debug!(session = self.key.id, %detail, "bridge reported an error"),
        }
        Ok(())
    }

    /// WhatsApp's `Socket.state` changed.
    pub(super) async fn on_wa_state(&mut self, wa: String) -> Result<(), PollError> {
        if wa.is_empty() {
            return Ok(());
        }
        if wa != "CONNECTED" {
            self.doc.synced = false;
            // A later sync (after a reconnect) is reported from its start again.
            self.doc.sync_reported = None;
        }
        let (state, reason) = map_wa_state(&wa, self.doc.synced, self.was_linked);
        match state {
            SessionState::LoggedOut => {
                return Err(PollError::Outcome(Outcome::LoggedOut(reason.unwrap_or_default())));
            }
            SessionState::Failed => {
                return Err(PollError::Outcome(Outcome::Failed(reason.unwrap_or_default())));
            }
            SessionState::QrPending if self.info.borrow().qr.is_none() => {
                // Keep `starting` until there is a QR to show.
            }
            SessionState::QrPending if self.current() == SessionState::QrPending => {
                // Idle and re-armed QRs are the same wait: `since` keeps its start, so the idle
                // reaper can tell how long nobody has scanned.
            }
            _ => self.publish(state, reason).await,
        }
        if wa == "UNPAIRED_IDLE"
            && let Some(page) = &self.page
        {
            // WhatsApp stopped rotating the QR; re-arm it (wa-web-surface §3.3).
            let _ = page.request::<bool>(&Request::RefreshQr, CALL_TIMEOUT).await;
        }
        Ok(())
    }

    /// Downloads an incoming message's media through the page and saves it under the media dir.
    /// Returns the path relative to the media dir; on failure the message is kept without bytes.
    pub(super) async fn save_incoming_media(&self, m: &WaMessage) -> Option<String> {
        let limit = self.settings.media.max_upload_bytes;
        if m.size.is_some_and(|s| s as u64 > limit) {
            tracing::info!(session = self.key.id, id = %m.id, "incoming media above media.max_upload_bytes: not downloaded");
            return None;
        }
        let fetched: Result<Downloaded, _> = self
            .request(&Request::DownloadMedia { msg_id: &m.id }, CALL_TIMEOUT)
            .await;
        let saved = async {
            let d = fetched.map_err(|e| e.to_string())?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(d.data)
                .map_err(|e| e.to_string())?;
            let name = crate::media::incoming_filename(m.filename.as_deref(), m.mimetype.as_deref(), m.kind.as_deref());
            let (path, relative) = crate::media::incoming_path(&self.settings.media.dir, self.key.user_id, &name);
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir).await.map_err(|e| e.to_string())?;
            }
            tokio::fs::write(&path, &bytes).await.map_err(|e| e.to_string())?;
            // Any node may be asked for it (cluster mode): kept in the store too.
            self.media.publish(&relative).await?;
            Ok::<_, String>(relative)
        }
        .await;
        saved
            .inspect_err(
                |e| tracing::warn!(session = self.key.id, id = %m.id, error = %e, "could not save incoming media"),
            )
            .ok()
    }

    /// The passkey prologue of linking: WhatsApp waits for the account owner's passkey. Shown as
    /// `passkey_required` until approved (linking goes on) or declined (a fresh QR follows).
    pub(super) async fn on_passkey(&mut self, prompt: PasskeyPrompt) {
        let said = prompt
            .reason
            .as_deref()
            .map(|r| format!(" (WhatsApp says: {r})"))
            .unwrap_or_default();
        match prompt.state.as_str() {
            "PENDING" => {
                let reason = format!(
                    "WhatsApp asks the account owner to confirm this link with a passkey{said}: \
                     on the phone, open WhatsApp and approve the request (or use the passkey of \
                     whatsapp.com on a device that has it)"
                );
                self.publish(SessionState::PasskeyRequired, Some(reason)).await;
            }
            "APPROVED" => {
                self.publish(SessionState::Pairing, Some("passkey confirmed; linking".into()))
                    .await;
            }
            "DENIED" => {
                let reason = format!("the passkey was not confirmed{said}; a new QR code follows");
                self.publish(SessionState::PasskeyRequired, Some(reason)).await;
            }
            other => tracing::debug!(session = self.key.id, state = other, "passkey state"),
        }
    }

    /// Reports the page's sync progress as a `session.sync` event (once per value and document;
    /// `done` once it synced). A write refused or failed is logged: progress is no state.
    pub(super) async fn report_sync(&mut self, progress: u32, done: bool) {
        let value = if done { 101 } else { progress };
        if self.doc.sync_reported.is_some_and(|r| r >= value) {
            return;
        }
        self.doc.sync_reported = Some(value);
        if let Err(e) = self
            .db
            .record_session_sync(self.key.id, progress, done, self.fence.clone())
            .await
        {
            tracing::warn!(session = self.key.id, error = %e, "could not record the sync progress");
        }
    }

    pub(super) async fn on_synced(&mut self, me: Me) -> Result<(), PollError> {
        self.report_sync(100, true).await;
        self.doc.synced = true;
        self.was_linked = true;
        let phone = me.wid.as_deref().and_then(|w| w.split('@').next()).map(str::to_string);
        self.info.send_modify(|i| {
            i.phone = phone.clone().or(i.phone.take());
            i.wid = me.wid.clone().or(i.wid.take());
            i.lid = me.lid.clone();
            i.push_name = me.pushname.clone();
            i.qr = None;
            i.qr_png = None;
            i.pairing_code = None;
            i.loading = Some(100);
        });
        // Synced is not connected until a round trip through WhatsApp's server works: a wedged
        // page syncs from its own store (and would take sends it never delivers).
        self.doc.alive_at = Some(Instant::now());
        if self.settings.sessions.liveness_interval_secs > 0
            && let Err(lost) = self.probe().await
        {
            return Err(PollError::Outcome(Outcome::BrowserLost(lost)));
        }
        let previously = self.connected_at.replace(crate::db::now());
        self.publish(SessionState::Connected, None).await;
        self.refresh_capabilities().await;
        self.reconcile_incoming(previously).await;
        self.renew_presence_subscriptions().await;
        Ok(())
    }

    /// WhatsApp's server sends a chat's presence to the connection that subscribed to it: the
    /// session's subscriptions (kept in the database by the API) are made again on each new
    /// connection. A chat the page cannot subscribe to any more is logged and kept.
    async fn renew_presence_subscriptions(&mut self) {
        let Some(page) = self.page.clone() else { return };
        let chats = match self.db.presence_subscriptions(self.key.id).await {
            Ok(chats) => chats,
            Err(e) => {
                return tracing::warn!(session = self.key.id, error = %e, "could not read the presence subscriptions");
            }
        };
        for chat_id in chats {
            let request = Request::SubscribePresence { chat_id };
            if let Err(e) = page.request::<serde_json::Value>(&request, CALL_TIMEOUT).await {
                tracing::warn!(session = self.key.id, ?request, error = %e, "could not renew a presence subscription");
            }
        }
    }

    /// Messages that reached the page while nobody listened (before the bridge was installed in a
    /// new document, or while the browser was down and the phone's server redelivered them) are
    /// read back from the page's store and stored if they are new. The window starts at the
    /// newest stored incoming message, else at the session's previous connection; a session that
    /// was never connected before has no history imported.
    pub(super) async fn reconcile_incoming(&mut self, previously_connected: Option<chrono::NaiveDateTime>) {
        let since = match self.db.last_incoming_at(self.key.id).await {
            Ok(Some(t)) => t.and_utc().timestamp() - RECONCILE_SLACK_SECS,
            Ok(None) => match previously_connected {
                Some(t) => t.and_utc().timestamp() - RECONCILE_SLACK_SECS,
                None => return,
            },
            Err(e) => {
                return tracing::warn!(session = self.key.id, error = %e, "could not read the last incoming message");
            }
        };
        self.reconcile_messages(since).await;
        self.reconcile_group_notes(since).await;
        self.reconcile_changes(since - REVOKE_WINDOW_SECS).await;
    }

    /// Edits and deletes for everyone of messages since `since` (unix seconds) that the page has
    /// and the database does not: recorded, each raising its event once. A stored row that
    /// already has the change is skipped here (no write); a message not stored yet may be on its
    /// way through the sink from `reconcile_messages`, so its change follows it there (the
    /// database ignores a change to a row it does not have).
    async fn reconcile_changes(&mut self, since: i64) {
        let Some(page) = self.page.clone() else { return };
        let recent = Request::RecentChanges {
            since,
            limit: RECONCILE_MAX,
        };
        let changes: Vec<WaChange> = match page.request(&recent, CALL_TIMEOUT).await {
            Ok(changes) => changes,
            Err(e) => {
                return tracing::warn!(session = self.key.id, error = %e, "could not read recent edits and deletes back");
            }
        };
        if changes.is_empty() {
            return;
        }
        let ids = changes.iter().map(|c| c.id.clone()).collect();
        let stored: std::collections::HashMap<String, crate::db::MessageRow> = match self
            .db
            .messages_by_wa_ids(self.key.id, ids)
            .await
        {
            Ok(rows) => rows
                .into_iter()
                .filter_map(|r| Some((r.wa_message_id.clone()?, r)))
                .collect(),
            Err(e) => {
                return tracing::warn!(session = self.key.id, error = %e, "could not check recent edits and deletes");
            }
        };
        for change in changes {
            let row = stored.get(&change.id);
            if row.is_some_and(|r| r.revoked_at.is_some()) {
                continue;
            }
            let session = self.key.clone();
            let event = match (change.revoked, change.body) {
                (true, _) => SessionEvent::Revoked { session, id: change.id },
                (false, Some(body)) if row.is_none_or(|r| r.body.as_deref() != Some(body.as_str())) => {
                    SessionEvent::Edited {
                        session,
                        id: change.id,
                        body,
                    }
                }
                _ => continue,
            };
            let _ = self.sink.send(event).await;
        }
    }

    /// Messages from others since `since` (unix seconds) that are not stored yet: stored, with
    /// their media, and their events raised.
    async fn reconcile_messages(&mut self, since: i64) {
        let Some(page) = self.page.clone() else { return };
        let recent = Request::RecentIncoming {
            since,
            limit: RECONCILE_MAX,
        };
        let found: Vec<WaMessage> = match page.request(&recent, CALL_TIMEOUT).await {
            Ok(found) => found,
            Err(e) => return tracing::warn!(session = self.key.id, error = %e, "could not read recent messages back"),
        };
        let ids = found.iter().map(|m| m.id.clone()).collect();
        let known = match self.db.known_wa_ids(self.key.id, ids).await {
            Ok(known) => known,
            Err(e) => return tracing::warn!(session = self.key.id, error = %e, "could not check recent messages"),
        };
        let mut stored = 0;
        for mut message in found.into_iter().filter(|m| !known.contains(&m.id)) {
            if message.has_media {
                message.saved_media = self.save_incoming_media(&message).await;
            }
            let session = self.key.clone();
            let _ = self
                .sink
                .send(SessionEvent::Incoming {
                    session,
                    message,
                    fence: self.fence.clone(),
                })
                .await;
            stored += 1;
        }
        if stored > 0 {
            tracing::info!(
                session = self.key.id,
                messages = stored,
                "messages missed while away were read back from the page"
            );
        }
    }

    /// Group notifications since `since` (unix seconds) that are not stored yet (someone joined,
    /// left or changed a group while the gateway was away): each becomes its `group.*` event as a
    /// live one does.
    async fn reconcile_group_notes(&mut self, since: i64) {
        let Some(page) = self.page.clone() else { return };
        let recent = Request::RecentGroupNotes {
            since,
            limit: RECONCILE_MAX,
        };
        let notes: Vec<WaGroupNote> = match page.request(&recent, CALL_TIMEOUT).await {
            Ok(notes) => notes,
            Err(e) => {
                return tracing::warn!(session = self.key.id, error = %e, "could not read recent group notifications back");
            }
        };
        let ids = notes.iter().map(|n| n.id.clone()).collect();
        let known = match self.db.known_wa_ids(self.key.id, ids).await {
            Ok(known) => known,
            Err(e) => {
                return tracing::warn!(session = self.key.id, error = %e, "could not check recent group notifications");
            }
        };
        for note in notes.into_iter().filter(|n| !known.contains(&n.id)) {
            tracing::info!(session = self.key.id, id = %note.id, "a group notification missed while away was read back");
            let session = self.key.clone();
            let fence = self.fence.clone();
            let _ = self.sink.send(SessionEvent::Group { session, note, fence }).await;
        }
    }
}

pub(super) enum PollError {
    Outcome(Outcome),
    Transient(String),
}
