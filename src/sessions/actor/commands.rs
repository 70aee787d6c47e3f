//! Commands from the session's handle, each one typed call into the page.

use base64::Engine as _;
use std::time::Duration;

use super::{Actor, CALL_TIMEOUT, Outcome, SEND_TIMEOUT};
use crate::browser::protocol::{ContactCard, Request, SendMedia};
use crate::browser::{BridgeError, Page};
use crate::db::MessageKind;
use crate::error_code::ErrorCode;
use crate::sessions::chat_id::ChatId;
use crate::sessions::handle::{Command, Content, OutgoingMedia, SendOptions, SentMessage, SessionError};
use crate::sessions::state::SessionState;

impl Actor {
    pub(super) async fn command(&mut self, cmd: Command) -> Option<Outcome> {
        if cmd.caller_gone() {
            tracing::debug!(session = self.key.id, "dropped a command whose caller stopped waiting");
            return None;
        }
        match cmd {
            Command::Stop { reply } => {
                return Some(Outcome::Stop {
                    reply: Some(reply),
                    record: true,
                });
            }
            Command::Shutdown { reply } => {
                return Some(Outcome::Stop {
                    reply: Some(reply),
                    record: false,
                });
            }
            Command::Restart { reply } => {
                // Whoever asks after the answer gets the new page's report, not this one's.
                self.info.send_modify(|i| i.capabilities = None);
                let _ = reply.send(Ok(()));
                return Some(Outcome::Restart);
            }
            Command::Logout { reply } => {
                let result = match self.request::<bool>(&Request::Logout, CALL_TIMEOUT).await {
                    // The page navigates away as it logs out: losing the call's answer is expected.
                    Err(SessionError::BrowserUnavailable(_)) => Ok(true),
                    other => other,
                };
                let _ = reply.send(result.map(|_| ()));
                return Some(Outcome::LoggedOut("logged out through the API".into()));
            }
            Command::SendText {
                chat,
                body,
                opts,
                reply,
            } => {
                if let Err(lost) = self.ready_to_send().await {
                    let _ = reply.send(Err(SessionError::BrowserUnavailable(lost.clone())));
                    return Some(Outcome::BrowserLost(lost));
                }
                let result = match self.require_connected() {
                    Ok(()) => {
                        let send = Request::SendText {
                            chat_id: chat.as_str(),
                            body: &body,
                            key_id: opts.key_id.as_deref(),
                            check_recipient: opts.check_recipient,
                            mark_read: opts.mark_read,
                            quoted: opts.quoted.as_deref(),
                            mentions: &opts.mentions,
                        };
                        self.request(&send, SEND_TIMEOUT).await
                    }
                    Err(e) => Err(e),
                };
                self.after_send(&result).await;
                let _ = reply.send(result);
            }
            Command::SendMedia {
                chat,
                media,
                opts,
                reply,
            } => {
                if let Err(lost) = self.ready_to_send().await {
                    let _ = reply.send(Err(SessionError::BrowserUnavailable(lost.clone())));
                    return Some(Outcome::BrowserLost(lost));
                }
                let result = match self.require_connected() {
                    Ok(()) => self.send_media(&chat, &media, &opts).await,
                    Err(e) => Err(e),
                };
                self.after_send(&result).await;
                let _ = reply.send(result);
            }
            Command::SendContent {
                chat,
                content,
                opts,
                reply,
            } => {
                if let Err(lost) = self.ready_to_send().await {
                    let _ = reply.send(Err(SessionError::BrowserUnavailable(lost.clone())));
                    return Some(Outcome::BrowserLost(lost));
                }
                let result = match self.require_connected() {
                    Ok(()) => self.send_content(&chat, &content, &opts).await,
                    Err(e) => Err(e),
                };
                self.after_send(&result).await;
                let _ = reply.send(result);
            }
            Command::AckStates { ids, reply } => {
                let result = match self.require_connected() {
                    Ok(()) => self.request(&Request::AcksOf { ids: &ids }, CALL_TIMEOUT).await,
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            Command::FindSent { chat, key_id, reply } => {
                let result = match self.require_connected() {
                    Ok(()) => {
                        let find = Request::FindSent {
                            chat_id: chat.as_str(),
                            key_id: &key_id,
                        };
                        self.request(&find, CALL_TIMEOUT).await
                    }
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            Command::CheckNumber { chat, reply } => {
                let result = match self.require_connected() {
                    Ok(()) => {
                        let check = Request::CheckNumber { chat_id: chat.as_str() };
                        self.request(&check, CALL_TIMEOUT).await
                    }
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            Command::ChatState { chat, state, reply } => {
                let result = match self.require_connected() {
                    Ok(()) => {
                        let typing = Request::ChatState {
                            chat_id: chat.as_str(),
                            state: state.as_str(),
                        };
                        self.request::<bool>(&typing, CALL_TIMEOUT).await.map(|_| ())
                    }
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            Command::MarkRead { chat, reply } => {
                let result = match self.require_connected() {
                    Ok(()) => {
                        let read = Request::MarkRead { chat_id: chat.as_str() };
                        self.request::<bool>(&read, CALL_TIMEOUT).await.map(|_| ())
                    }
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            Command::Call { request, reply } => {
                let result = match self.require_connected() {
                    Ok(()) => self.request::<serde_json::Value>(&request, CALL_TIMEOUT).await,
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            Command::CallJson { call, reply } => {
                let result = match self.require_connected() {
                    Ok(()) => self.call_json::<serde_json::Value>(&call, CALL_TIMEOUT).await,
                    Err(e) => Err(e),
                };
                let _ = reply.send(result);
            }
            Command::PairingCode { phone, reply } => {
                let result = if self.current() == SessionState::QrPending {
                    self.request::<String>(&Request::RequestPairingCode { phone: &phone }, CALL_TIMEOUT)
                        .await
                } else {
                    Err(SessionError::Invalid(format!(
                        "a pairing code can only be requested while the session shows a QR code (it is {})",
                        self.current().as_str()
                    )))
                };
                if let Ok(code) = &result {
                    let code = code.clone();
                    self.info.send_modify(|i| i.pairing_code = Some(code));
                }
                let _ = reply.send(result);
            }
        }
        None
    }

    /// A connected page gets a liveness probe first after a quiet spell; Err(reason) when it is
    /// wedged (the send is refused as retryable and the browser restarted).
    async fn ready_to_send(&mut self) -> Result<(), String> {
        if self.current() != SessionState::Connected {
            return Ok(());
        }
        self.alive_before_send().await
    }

    /// What a send taught: the server acked (the page is alive), and the chat's LID ↔ phone pair.
    async fn after_send(&mut self, result: &Result<SentMessage, SessionError>) {
        let Ok(sent) = result else { return };
        self.saw_server_ack(sent.ack);
        if let (Some(chat), Some(phone)) = (&sent.chat, &sent.chat_phone)
            && chat.ends_with("@lid")
            && let Err(e) = self
                .db
                .record_lid_pairs(self.key.user_id, self.key.id, vec![(chat.clone(), phone.clone())])
                .await
        {
            tracing::warn!(session = self.key.id, error = %e, "could not record a LID pair");
        }
    }

    pub(super) fn require_connected(&self) -> Result<(), SessionError> {
        if self.current() == SessionState::Connected {
            Ok(())
        } else {
            Err(SessionError::NotConnected)
        }
    }

    /// One call into the page. A document replaced since the last drain gets the bridge installed
    /// and the call made once more.
    pub(super) async fn request<T: serde::de::DeserializeOwned>(
        &self,
        request: &Request<'_>,
        timeout: Duration,
    ) -> Result<T, SessionError> {
        self.with_bridge(PageCall::Typed(request), timeout).await
    }

    /// A page call given as its JSON (`{"method", "params"}`, a serialised [`Request`]): one
    /// another cluster node forwarded.
    pub(super) async fn call_json<T: serde::de::DeserializeOwned>(
        &self,
        call: &serde_json::Value,
        timeout: Duration,
    ) -> Result<T, SessionError> {
        self.with_bridge(PageCall::Json(call), timeout).await
    }

    /// Makes `call` on the page; a page that lost the bridge (it reloaded) gets it again and the
    /// call is made once more.
    async fn with_bridge<T: serde::de::DeserializeOwned>(
        &self,
        call: PageCall<'_>,
        timeout: Duration,
    ) -> Result<T, SessionError> {
        let page = self.page.as_ref().ok_or(SessionError::NotConnected)?;
        match call.make(page, timeout).await {
            Err(BridgeError::Page { code, .. }) if ErrorCode::from_page(&code) == ErrorCode::BridgeMissing => {
                page.install(true).await.map_err(bridge_error)?;
                call.make(page, timeout).await.map_err(bridge_error)
            }
            other => other.map_err(bridge_error),
        }
    }

    /// Small files go inline in the send (one round trip); larger ones in parts first.
    pub(super) async fn send_media(
        &self,
        chat: &ChatId,
        m: &OutgoingMedia,
        opts: &SendOptions,
    ) -> Result<SentMessage, SessionError> {
        let page = self.page.as_ref().ok_or(SessionError::NotConnected)?;
        let bytes = &m.bytes;
        let upload_id = uuid::Uuid::new_v4().simple().to_string();
        let data = if Page::fits_one_call(bytes) {
            Some(base64::engine::general_purpose::STANDARD.encode(bytes.as_slice()))
        } else {
            page.upload(&upload_id, bytes, CALL_TIMEOUT)
                .await
                .map_err(bridge_error)?;
            None
        };
        let send = Request::SendMedia(SendMedia {
            chat_id: chat.as_str(),
            upload_id: data.is_none().then_some(upload_id.as_str()),
            data,
            mimetype: &m.mimetype,
            filename: m.filename.as_deref(),
            caption: m.caption.as_deref(),
            as_document: m.kind == MessageKind::Document,
            as_voice: m.kind == MessageKind::Ptt,
            as_sticker: m.kind == MessageKind::Sticker,
            key_id: opts.key_id.as_deref(),
            check_recipient: opts.check_recipient,
            mark_read: opts.mark_read,
            quoted: opts.quoted.as_deref(),
            mentions: &opts.mentions,
        });
        self.request(&send, SEND_TIMEOUT).await
    }

    /// A location, a reaction, contact cards, a poll, an edit, a delete or a forward: one page call.
    async fn send_content(&self, chat: &ChatId, c: &Content, opts: &SendOptions) -> Result<SentMessage, SessionError> {
        let send = match c {
            Content::Location(place) => Request::SendLocation {
                chat_id: chat.as_str(),
                latitude: place.latitude,
                longitude: place.longitude,
                description: place.description(),
                key_id: opts.key_id.as_deref(),
                check_recipient: opts.check_recipient,
                mark_read: opts.mark_read,
                quoted: opts.quoted.as_deref(),
            },
            Content::Reaction { msg_id, emoji } => Request::SendReaction {
                msg_id,
                emoji,
                key_id: opts.key_id.as_deref(),
            },
            Content::Contacts(contacts) => Request::SendContacts {
                chat_id: chat.as_str(),
                cards: contacts
                    .iter()
                    .map(|c| ContactCard {
                        display_name: &c.name,
                        vcard: crate::vcard::card(c),
                    })
                    .collect(),
                key_id: opts.key_id.as_deref(),
                check_recipient: opts.check_recipient,
                mark_read: opts.mark_read,
                quoted: opts.quoted.as_deref(),
            },
            Content::Poll(poll) => Request::SendPoll {
                chat_id: chat.as_str(),
                question: &poll.question,
                options: &poll.options,
                multiple: poll.multiple,
                key_id: opts.key_id.as_deref(),
                check_recipient: opts.check_recipient,
                mark_read: opts.mark_read,
                quoted: opts.quoted.as_deref(),
            },
            Content::Edit { msg_id, body } => Request::EditMessage {
                msg_id,
                body,
                key_id: opts.key_id.as_deref(),
            },
            Content::Revoke { msg_id } => Request::RevokeMessage {
                msg_id,
                key_id: opts.key_id.as_deref(),
            },
            Content::Forward { msg_id } => Request::ForwardMessage {
                msg_id,
                chat_id: chat.as_str(),
                key_id: opts.key_id.as_deref(),
                check_recipient: opts.check_recipient,
            },
        };
        self.request(&send, SEND_TIMEOUT).await
    }
}

pub(super) fn bridge_error(e: BridgeError) -> SessionError {
    match e {
        BridgeError::Page { code, message } => SessionError::Wa { code, message },
        BridgeError::Timeout(d) => SessionError::Timeout(d),
        BridgeError::Driver(m) => SessionError::BrowserUnavailable(m),
    }
}

pub(in crate::sessions) fn refuse(cmd: Command, err: SessionError) {
    match cmd {
        Command::SendText { reply, .. } | Command::SendMedia { reply, .. } | Command::SendContent { reply, .. } => {
            drop(reply.send(Err(err)))
        }
        Command::CheckNumber { reply, .. } => drop(reply.send(Err(err))),
        Command::FindSent { reply, .. } => drop(reply.send(Err(err))),
        Command::AckStates { reply, .. } => drop(reply.send(Err(err))),
        Command::ChatState { reply, .. } | Command::MarkRead { reply, .. } => drop(reply.send(Err(err))),
        Command::PairingCode { reply, .. } => drop(reply.send(Err(err))),
        Command::Call { reply, .. } | Command::CallJson { reply, .. } => drop(reply.send(Err(err))),
        Command::Logout { reply }
        | Command::Restart { reply }
        | Command::Stop { reply }
        | Command::Shutdown { reply } => drop(reply.send(Err(err))),
    }
}

/// A call into the page: typed, or as the JSON another node forwarded.
#[derive(Clone, Copy)]
enum PageCall<'a> {
    Typed(&'a Request<'a>),
    Json(&'a serde_json::Value),
}

impl PageCall<'_> {
    async fn make<T: serde::de::DeserializeOwned>(self, page: &Page, timeout: Duration) -> Result<T, BridgeError> {
        match self {
            PageCall::Typed(request) => page.request(request, timeout).await,
            PageCall::Json(call) => page.call_json(call.clone(), timeout).await,
        }
    }
}
