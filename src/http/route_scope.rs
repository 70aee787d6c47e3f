//! The one table of what each API route needs from a key (issue 18), enforced by the `ApiKey`
//! extractor that every API handler takes. A route missing from [`ROUTES`] needs full rights:
//! a route added without a thought about scopes is closed to limited keys, never open.
//!
//! A key limited to sessions passes a [`Reach::Session`] route only for its sessions: the
//! extractor checks a `?session=` selector, and `selector::session_for` the name the handler
//! finally uses (query, body field or the default). [`Reach::Account`] routes read or change
//! what belongs to the whole user (every session's messages, the webhook), so a key limited
//! to sessions is refused there.

use actix_web::http::Method;

use crate::auth::scope::{Grant, Scope};

/// What a route touches beyond its scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// One session, named by the `session` selector.
    Session,
    /// The user's whole account (all sessions, the webhook).
    Account,
}

/// What a key needs to call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any valid key (the caller's own identity and limits).
    AnyKey,
    /// This scope, over this reach.
    Scope(Scope, Reach),
    /// A key without limits: routes that could widen a key's rights, and the operator's.
    Full,
}

use Need::{AnyKey, Full};
use Reach::{Account, Session};
use Scope::{Manage, Read, Send};

const fn need(scope: Scope, reach: Reach) -> Need {
    Need::Scope(scope, reach)
}

/// Every API route: method, pattern exactly as registered, and what it needs.
pub const ROUTES: &[(&str, &str, Need)] = &[
    ("GET", "/api/v1/me", AnyKey),
    ("GET", "/api/v1/cluster/", Full),
    ("GET", "/api/v1/apikeys/", Full),
    ("POST", "/api/v1/apikeys/", Full),
    ("DELETE", "/api/v1/apikeys/{id}/", Full),
    // Sessions: linking (the QR code too: whoever scans it owns the session), restarting,
    // logging out and deleting are `manage`; looking is `read`.
    ("POST", "/api/v1/sessions/init/", need(Manage, Session)),
    ("GET", "/api/v1/sessions/qr/", need(Manage, Session)),
    ("POST", "/api/v1/sessions/logout/", need(Manage, Session)),
    ("POST", "/api/v1/sessions/restart/", need(Manage, Session)),
    ("DELETE", "/api/v1/sessions/", need(Manage, Session)),
    ("GET", "/api/v1/sessions/status/", need(Read, Session)),
    ("GET", "/api/v1/sessions/capabilities/", need(Read, Session)),
    ("GET", "/api/v1/sessions/events/", need(Read, Session)),
    ("GET", "/api/v1/sessions/", need(Read, Account)),
    // A session's own behaviour (today: what it does with incoming calls) is configuration,
    // like linking it: `manage` to change, `read` to look.
    ("GET", "/api/v1/sessions/settings/", need(Read, Session)),
    ("PATCH", "/api/v1/sessions/settings/", need(Manage, Session)),
    // Messages and chat actions.
    ("POST", "/api/v1/messages/send-text/", need(Send, Session)),
    ("POST", "/api/v1/messages/send-media/", need(Send, Session)),
    ("POST", "/api/v1/messages/send-location/", need(Send, Session)),
    ("POST", "/api/v1/messages/send-contact/", need(Send, Session)),
    ("POST", "/api/v1/messages/send-poll/", need(Send, Session)),
    // Acting on a stored message by id: the message's session is not named by a selector, so
    // a key limited to sessions is refused (as for reading messages by id).
    ("POST", "/api/v1/messages/{id}/reaction/", need(Send, Account)),
    ("POST", "/api/v1/messages/{id}/forward/", need(Send, Account)),
    ("PATCH", "/api/v1/messages/{id}/", need(Send, Account)),
    ("DELETE", "/api/v1/messages/{id}/", need(Send, Account)),
    ("POST", "/api/v1/chats/{chatId}/read/", need(Send, Session)),
    ("POST", "/api/v1/chats/{chatId}/presence/", need(Send, Session)),
    // Rejecting a ringing call answers the caller (they see it declined), as a read receipt
    // answers a sender: a conversation act, `send` — not a change of the session or a group.
    ("POST", "/api/v1/calls/{callId}/reject/", need(Send, Session)),
    // Watching someone's presence shows them nothing (a subscription to the server): `read`.
    (
        "POST",
        "/api/v1/chats/{chatId}/presence/subscribe/",
        need(Read, Session),
    ),
    ("GET", "/api/v1/chats/{chatId}/presence/", need(Read, Session)),
    ("GET", "/api/v1/messages/", need(Read, Account)),
    ("GET", "/api/v1/messages/{id}/", need(Read, Account)),
    ("GET", "/api/v1/messages/{id}/media", need(Read, Account)),
    ("GET", "/api/v1/messages/{id}/votes/", need(Read, Account)),
    ("GET", "/api/v1/events/stream", need(Read, Account)),
    // Contacts.
    ("GET", "/api/v1/contacts/check/", need(Read, Session)),
    ("GET", "/api/v1/contacts/lid/{lid}/", need(Read, Account)),
    ("GET", "/api/v1/contacts/phone/{phone}/", need(Read, Account)),
    ("GET", "/api/v1/chats/", need(Read, Session)),
    ("GET", "/api/v1/chats/{chatId}/messages/", need(Read, Session)),
    ("GET", "/api/v1/contacts/", need(Read, Session)),
    ("GET", "/api/v1/contacts/{id}/", need(Read, Session)),
    ("POST", "/api/v1/contacts/{id}/block/", need(Manage, Session)),
    ("DELETE", "/api/v1/contacts/{id}/block/", need(Manage, Session)),
    // Groups: looking is `read`; creating, changing, joining and leaving are `manage`.
    ("GET", "/api/v1/groups/", need(Read, Session)),
    ("GET", "/api/v1/groups/{groupId}/", need(Read, Session)),
    ("GET", "/api/v1/groups/{groupId}/invite/", need(Read, Session)),
    ("POST", "/api/v1/groups/", need(Manage, Session)),
    ("POST", "/api/v1/groups/{groupId}/participants/", need(Manage, Session)),
    ("PATCH", "/api/v1/groups/{groupId}/", need(Manage, Session)),
    ("DELETE", "/api/v1/groups/{groupId}/invite/", need(Manage, Session)),
    ("POST", "/api/v1/groups/{groupId}/leave/", need(Manage, Session)),
    ("PUT", "/api/v1/groups/{groupId}/picture/", need(Manage, Session)),
    ("DELETE", "/api/v1/groups/{groupId}/picture/", need(Manage, Session)),
    ("POST", "/api/v1/groups/join/", need(Manage, Session)),
    // The webhook is the account's; its deliveries carry every session's events.
    ("GET", "/api/v1/webhook/", need(Manage, Account)),
    ("PUT", "/api/v1/webhook/", need(Manage, Account)),
    ("DELETE", "/api/v1/webhook/", need(Manage, Account)),
    ("POST", "/api/v1/webhook/test/", need(Manage, Account)),
    ("GET", "/api/v1/webhook/deliveries/", need(Manage, Account)),
    ("POST", "/api/v1/webhook/deliveries/{id}/replay/", need(Manage, Account)),
];

/// What `method pattern` needs; [`Need::Full`] for a route not in [`ROUTES`] (or no route).
pub fn need_of(method: &Method, pattern: Option<&str>) -> Need {
    let Some(pattern) = pattern else { return Full };
    ROUTES
        .iter()
        .find(|(m, p, _)| *p == pattern && method.as_str() == *m)
        .map_or(Full, |(_, _, n)| *n)
}

/// Why `grant` may not call a route needing `need`, or None when it may. `session` is the
/// `?session=` selector of the request, if any.
pub fn refusal(grant: &Grant, need: Need, session: Option<&str>) -> Option<String> {
    match need {
        AnyKey => None,
        Full if grant.is_full() => None,
        Full => Some("This route needs an API key without limits (full rights)".into()),
        Need::Scope(scope, _) if !grant.has(scope) => Some(format!(
            "This API key lacks the `{}` scope this route needs",
            scope.as_str()
        )),
        Need::Scope(_, Account) if !grant.reaches_all() => {
            Some("This API key is limited to some sessions; this route reaches every session of the account".into())
        }
        Need::Scope(_, _) => session.and_then(|name| session_refusal(grant, name)),
    }
}

/// Why `grant` may not use the session `name`, or None when it may.
pub fn session_refusal(grant: &Grant, name: &str) -> Option<String> {
    (!grant.reaches(name)).then(|| format!("This API key may not use session `{name}`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlisted_routes_need_full_rights() {
        assert_eq!(need_of(&Method::GET, Some("/api/v1/brand-new/")), Full);
        assert_eq!(need_of(&Method::PATCH, Some("/api/v1/webhook/")), Full);
        assert_eq!(need_of(&Method::GET, None), Full);
        assert_eq!(need_of(&Method::GET, Some("/api/v1/me")), AnyKey);
    }

    #[test]
    fn every_route_is_listed_once() {
        for (i, (m, p, _)) in ROUTES.iter().enumerate() {
            assert!(Method::from_bytes(m.as_bytes()).is_ok(), "{m}");
            assert!(
                !ROUTES[i + 1..].iter().any(|(m2, p2, _)| m2 == m && p2 == p),
                "{m} {p} listed twice"
            );
        }
    }

    #[test]
    fn refusals() {
        let read_sales = Grant::parse(Some(&["read".into()]), Some(&["sales".into()])).unwrap();
        let send_all = Grant::parse(Some(&["send".into()]), None).unwrap();
        assert!(refusal(&Grant::full(), Full, None).is_none());
        assert!(refusal(&send_all, Full, None).is_some());
        assert!(refusal(&read_sales, AnyKey, None).is_none());
        assert!(refusal(&read_sales, need(Read, Session), Some("sales")).is_none());
        assert!(
            refusal(&read_sales, need(Read, Session), None).is_none(),
            "checked later"
        );
        assert!(refusal(&read_sales, need(Read, Session), Some("default")).is_some());
        assert!(refusal(&read_sales, need(Read, Account), None).is_some());
        assert!(refusal(&read_sales, need(Send, Session), Some("sales")).is_some());
        assert!(refusal(&send_all, need(Send, Account), None).is_none());
        assert!(refusal(&send_all, need(Read, Session), None).is_some());
    }
}
