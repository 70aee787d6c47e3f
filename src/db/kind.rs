//! `MessageKind`: WhatsApp's message types (`Msg.type` on the page), mapped to the strings the
//! database, the API and the page use in this one place; and `MessageDetails`, what a kind
//! carries beyond text and media, kept as one JSON object in `messages.details`.

use diesel::deserialize::FromSqlRow;
use diesel::expression::AsExpression;
use diesel::sql_types::Text;

/// What a message is. The stored and API string is WhatsApp's own type name (`chat`, `image`,
/// `video`, `audio`, `ptt` for a voice note, `document`, `sticker`, `location`, `reaction`),
/// except for a poll: WhatsApp's `poll_creation` is `poll` here (the API's name for it). Types
/// wagate does not know (`scheduled_event_creation`, …) arrive from the page and are kept as
/// `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = Text)]
pub enum MessageKind {
    Chat,
    Image,
    Video,
    Audio,
    /// A voice note ("push to talk"): Opus audio in Ogg, shown with a waveform and played inline.
    Ptt,
    Document,
    Sticker,
    /// A pin on a map: [`Location`] in the details.
    Location,
    /// An emoji on another message (`reactionTo` in the details; the emoji is the body, empty
    /// when a reaction is taken back).
    Reaction,
    /// wagate's record of an edit it sent (the new text is the body; `targetMessageId` the
    /// message edited, whose row gets the text and `edited_at`).
    Edit,
    /// A contact card (vCard 3.0 text as the body; `contacts` in the details).
    Vcard,
    /// Several contact cards in one message (`contacts` in the details).
    MultiVcard,
    /// wagate's record of a delete for everyone it sent (`targetMessageId` the message deleted,
    /// whose row gets `revoked_at`).
    Revoke,
    /// A group notification (WhatsApp's `gp2`): someone joined, left, or changed the group
    /// ([`GroupChange`] as `group` in the details).
    GroupNotification,
    /// A poll (WhatsApp's `poll_creation`): the question as the body, [`Poll`] in the details,
    /// and the latest vote of each voter beside it (`pollVotes`).
    Poll,
    Other(String),
}

impl MessageKind {
    /// WhatsApp's type name, also the stored value.
    pub fn as_str(&self) -> &str {
        match self {
            MessageKind::Chat => "chat",
            MessageKind::Image => "image",
            MessageKind::Video => "video",
            MessageKind::Audio => "audio",
            MessageKind::Ptt => "ptt",
            MessageKind::Document => "document",
            MessageKind::Sticker => "sticker",
            MessageKind::Location => "location",
            MessageKind::Reaction => "reaction",
            MessageKind::Edit => "edit",
            MessageKind::Vcard => "vcard",
            MessageKind::MultiVcard => "multi_vcard",
            MessageKind::Revoke => "revoke",
            MessageKind::GroupNotification => "gp2",
            MessageKind::Poll => "poll",
            MessageKind::Other(s) => s,
        }
    }

    /// From a stored value or a page's `Msg.type`; an empty type is a text (`chat`).
    pub fn parse(s: &str) -> Self {
        match s {
            "" | "chat" => MessageKind::Chat,
            "image" => MessageKind::Image,
            "video" => MessageKind::Video,
            "audio" => MessageKind::Audio,
            "ptt" | "voice" => MessageKind::Ptt,
            "document" => MessageKind::Document,
            "sticker" => MessageKind::Sticker,
            "location" => MessageKind::Location,
            "reaction" => MessageKind::Reaction,
            "edit" => MessageKind::Edit,
            "vcard" => MessageKind::Vcard,
            "multi_vcard" => MessageKind::MultiVcard,
            "revoke" => MessageKind::Revoke,
            "gp2" => MessageKind::GroupNotification,
            "poll" | "poll_creation" => MessageKind::Poll,
            other => MessageKind::Other(other.to_string()),
        }
    }

    /// The API's `media_type` values: `image`, `video`, `audio`, `voice` (or `ptt`), `document`
    /// (or `file`), `sticker`. None for anything else.
    pub fn from_media_type(s: &str) -> Option<Self> {
        Some(match s {
            "image" => MessageKind::Image,
            "video" => MessageKind::Video,
            "audio" => MessageKind::Audio,
            "voice" | "ptt" => MessageKind::Ptt,
            "document" | "file" => MessageKind::Document,
            "sticker" => MessageKind::Sticker,
            _ => return None,
        })
    }

    /// Whether this kind acts on another message (a reaction, an edit, a delete for everyone)
    /// rather than being a new message of its chat.
    pub fn acts_on_message(&self) -> bool {
        matches!(self, MessageKind::Reaction | MessageKind::Edit | MessageKind::Revoke)
    }

    /// The values [`from_media_type`](Self::from_media_type) takes, for error messages.
    pub const MEDIA_TYPES: &'static str = "image, video, audio, voice, document or sticker";

    /// The name this kind goes by in the API's `media_type` (`voice` for `ptt`).
    pub fn media_type_name(&self) -> &str {
        match self {
            MessageKind::Ptt => "voice",
            other => other.as_str(),
        }
    }
}

impl std::fmt::Display for MessageKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for MessageKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Stores a type as its one spelling in a `Text` column, on both backends: `$to` gives the
/// spelling, `$from` reads it back (`Err` for a spelling the type does not know).
macro_rules! text_column {
    ($ty:ty, $to:expr, $from:expr) => {
        impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $ty
        where
            DB: diesel::backend::Backend,
            str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, DB>) -> diesel::serialize::Result {
                let to: fn(&$ty) -> &str = $to;
                to(self).to_sql(out)
            }
        }

        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $ty
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let from: fn(&str) -> Result<$ty, String> = $from;
                Ok(from(&String::from_sql(bytes)?)?)
            }
        }
    };
}
pub(crate) use text_column;

text_column!(MessageKind, |k| k.as_str(), |s| Ok(MessageKind::parse(s)));

/// What a message carries beyond its text and media, by kind; stored as one JSON object in
/// `messages.details` (absent fields are left out, an empty object is no column value).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageDetails {
    /// The WhatsApp id (`true_<chat>_<ID>`) of the message this one replies to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quoted_message_id: Option<String>,
    /// A reaction's target: the WhatsApp id of the message reacted to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reaction_to: Option<String>,
    /// A location message's place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    /// An edit's or a delete's target: the WhatsApp id of the message changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_message_id: Option<String>,
    /// A contact card's contacts (name and phone number of each).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<crate::vcard::Contact>>,
    /// The message key id its client chose (`id` on a send), used when the queue sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The user ids (`<n>@c.us`, `<n>@lid`) a text or a caption mentions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mentions: Option<Vec<String>>,
    /// A group notification's change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupChange>,
    /// A poll's question and options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll: Option<Poll>,
    /// A poll's votes: the latest of each voter (a new vote replaces the voter's earlier one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poll_votes: Vec<PollVote>,
    /// A forward wagate sent: the WhatsApp id of the message it copies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forwarded_from: Option<String>,
    /// WhatsApp shows the message as forwarded (the page's `isForwarded`; a forward of one's own
    /// original message is not).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_forwarded: bool,
    /// How many times WhatsApp counts the message forwarded (the page's `forwardingScore`; 127
    /// and up: "forwarded many times").
    #[serde(default, skip_serializing_if = "is_zero")]
    pub forwarding_score: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// What a group notification says happened (kept as `group` in a `gp2` row's details).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct GroupChange {
    /// WhatsApp's action (the notification's subtype): `add`, `invite`, `remove`, `leave`,
    /// `promote`, `demote`, `subject`, `description`, `announce`, `restrict`, `picture`, …
    pub action: String,
    /// Whom it concerns (user ids; for `leave`, who left).
    #[serde(default)]
    pub participants: Vec<String>,
    /// Their phone numbers (digits), where known; same order.
    #[serde(default)]
    pub participant_phones: Vec<Option<String>>,
    /// Who made the change.
    #[serde(default)]
    pub author: Option<String>,
    #[serde(default)]
    pub author_phone: Option<String>,
    /// `subject`: the new subject.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// `description`: the new description (empty when it was removed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `announce` (only admins send) and `restrict` (only admins edit the info): on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
}

impl GroupChange {
    /// Which group event the action raises: `join` (add, invite, linked_group_join), `leave`
    /// (remove, leave) or `update` (everything else), as whatsapp-web.js groups them.
    pub fn class(&self) -> GroupEventClass {
        match self.action.as_str() {
            "add" | "invite" | "linked_group_join" => GroupEventClass::Join,
            "remove" | "leave" => GroupEventClass::Leave,
            _ => GroupEventClass::Update,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupEventClass {
    Join,
    Leave,
    Update,
}

/// A poll as WhatsApp's poll creation message carries it (`pollName`, `pollOptions`,
/// `pollSelectableOptionsCount`: 1 for one answer, 0 for any number).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Poll {
    /// The question (WhatsApp's `pollName`).
    pub question: String,
    /// The options, in order (each option's WhatsApp `localId` is its index).
    pub options: Vec<String>,
    /// Whether a voter may pick more than one option.
    pub multiple: bool,
}

/// One voter's current vote on a poll.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PollVote {
    /// The voter's user id (`<n>@c.us` or `<n>@lid`).
    pub voter: String,
    /// The voter's phone number (digits), when WhatsApp revealed it.
    #[serde(default)]
    pub voter_phone: Option<String>,
    /// The options picked (their text); empty when the voter took their vote back.
    pub selected_options: Vec<String>,
    /// When the voter voted, unix seconds.
    pub timestamp: i64,
}

impl Poll {
    /// What a vote picked, as option texts in the poll's order: by text when the page named the
    /// options, else by WhatsApp's `localId` (the option's index). Unknown ones are dropped.
    pub fn picked(&self, names: &[String], local_ids: &[u32]) -> Vec<String> {
        self.options
            .iter()
            .enumerate()
            .filter(|(i, o)| {
                if names.is_empty() {
                    local_ids.contains(&(*i as u32))
                } else {
                    names.contains(o)
                }
            })
            .map(|(_, o)| o.clone())
            .collect()
    }

    /// Each option with its votes and voters, in the poll's order.
    pub fn tally<'a>(&'a self, votes: &'a [PollVote]) -> Vec<(&'a str, Vec<&'a PollVote>)> {
        self.options
            .iter()
            .map(|o| {
                let by = votes
                    .iter()
                    .filter(|v| v.selected_options.iter().any(|s| s == o))
                    .collect();
                (o.as_str(), by)
            })
            .collect()
    }
}

impl MessageDetails {
    /// Records `vote` as its voter's current one. False (nothing changed) when the voter's
    /// stored vote is newer, or the same.
    pub fn record_vote(&mut self, vote: PollVote) -> bool {
        match self.poll_votes.iter_mut().find(|v| v.voter == vote.voter) {
            Some(old) if old.timestamp > vote.timestamp || *old == vote => false,
            Some(old) => {
                *old = vote;
                true
            }
            None => {
                self.poll_votes.push(vote);
                true
            }
        }
    }
}

/// A place, as WhatsApp's location message carries it (`lat`, `lng`, and `loc`: the name, then
/// the address on a second line).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    /// Degrees, −90 to 90 (WGS 84).
    pub latitude: f64,
    /// Degrees, −180 to 180 (WGS 84).
    pub longitude: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

impl Location {
    /// WhatsApp's `loc` text: the name, then the address on its own line; None when neither.
    pub fn description(&self) -> Option<String> {
        match (self.name.as_deref(), self.address.as_deref()) {
            (None, None) => None,
            (Some(n), None) => Some(n.to_string()),
            (None, Some(a)) => Some(a.to_string()),
            (Some(n), Some(a)) => Some(format!("{n}\n{a}")),
        }
    }

    /// From WhatsApp's `loc` text: the first line is the name, the rest the address.
    pub fn from_description(latitude: f64, longitude: f64, loc: Option<&str>) -> Self {
        let loc = loc.map(str::trim).filter(|l| !l.is_empty());
        let (name, address) = match loc.map(|l| l.split_once('\n')) {
            Some(Some((n, a))) => (Some(n.trim().to_string()), Some(a.trim().to_string())),
            Some(None) => (loc.map(str::to_string), None),
            None => (None, None),
        };
        Location {
            latitude,
            longitude,
            name: name.filter(|n| !n.is_empty()),
            address: address.filter(|a| !a.is_empty()),
        }
    }
}

impl MessageDetails {
    /// From the stored column; an unreadable value (never written by this code) reads as empty.
    pub fn from_column(raw: Option<&str>) -> Self {
        raw.and_then(|r| serde_json::from_str(r).ok()).unwrap_or_default()
    }

    /// The column's value: None when there is nothing to keep.
    pub fn to_column(&self) -> Option<String> {
        (*self != MessageDetails::default()).then(|| serde_json::to_string(self).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::MessageKind::{self, *};
    use super::{Location as Place, MessageDetails};

    #[test]
    fn details_are_one_json_object_and_empty_is_none() {
        assert_eq!(MessageDetails::default().to_column(), None);
        let d = MessageDetails {
            quoted_message_id: Some("true_1@c.us_3EB0A".into()),
            ..Default::default()
        };
        let col = d.to_column().unwrap();
        assert_eq!(col, r#"{"quotedMessageId":"true_1@c.us_3EB0A"}"#);
        assert_eq!(MessageDetails::from_column(Some(&col)), d);
        assert_eq!(MessageDetails::from_column(Some("not json")), MessageDetails::default());
    }

    #[test]
    fn forwarding_is_kept_only_when_there_is_some() {
        let d = MessageDetails {
            forwarded_from: Some("false_1@c.us_AB".into()),
            is_forwarded: true,
            forwarding_score: 2,
            ..Default::default()
        };
        let col = d.to_column().unwrap();
        assert_eq!(
            col,
            r#"{"forwardedFrom":"false_1@c.us_AB","isForwarded":true,"forwardingScore":2}"#
        );
        assert_eq!(MessageDetails::from_column(Some(&col)), d);
        let plain = MessageDetails {
            is_forwarded: false,
            forwarding_score: 0,
            ..Default::default()
        };
        assert_eq!(plain.to_column(), None, "not forwarded: nothing stored");
    }

    #[test]
    fn a_location_description_is_name_then_address() {
        let p = Place::from_description(52.5, 13.4, Some("Brandenburger Tor\nPariser Platz, Berlin"));
        assert_eq!(p.name.as_deref(), Some("Brandenburger Tor"));
        assert_eq!(p.address.as_deref(), Some("Pariser Platz, Berlin"));
        assert_eq!(
            p.description().as_deref(),
            Some("Brandenburger Tor\nPariser Platz, Berlin")
        );
        let bare = Place::from_description(1.0, 2.0, Some("  "));
        assert_eq!((bare.description(), bare.name, bare.address), (None, None, None));
    }

    #[test]
    fn one_spelling_per_kind() {
        for k in [
            Chat,
            Image,
            Video,
            Audio,
            Ptt,
            Document,
            Sticker,
            Location,
            Reaction,
            Edit,
            Revoke,
            Vcard,
            MultiVcard,
            GroupNotification,
            Poll,
        ] {
            assert_eq!(MessageKind::parse(k.as_str()), k);
        }
        assert_eq!(MessageKind::from_media_type("voice"), Some(Ptt));
        assert_eq!(Ptt.as_str(), "ptt", "stored as WhatsApp spells it");
        assert_eq!(Ptt.media_type_name(), "voice");
        assert_eq!(MessageKind::from_media_type("file"), Some(Document));
        assert_eq!(MessageKind::from_media_type("chat"), None);
        assert_eq!(MessageKind::parse("vcard"), Vcard);
        assert_eq!(MessageKind::parse("poll_creation"), Poll, "WhatsApp's name for a poll");
        assert_eq!(Poll.as_str(), "poll");
        assert_eq!(
            MessageKind::parse("scheduled_event_creation"),
            Other("scheduled_event_creation".into())
        );
        assert_eq!(MessageKind::parse("gp2"), GroupNotification, "WhatsApp's own name");
    }

    #[test]
    fn group_actions_fall_in_three_events() {
        use super::{GroupChange, GroupEventClass as C};
        for (action, class) in [
            ("add", C::Join),
            ("invite", C::Join),
            ("linked_group_join", C::Join),
            ("remove", C::Leave),
            ("leave", C::Leave),
            ("subject", C::Update),
            ("promote", C::Update),
            ("announce", C::Update),
        ] {
            let change = GroupChange {
                action: action.into(),
                ..Default::default()
            };
            assert_eq!(change.class(), class, "{action}");
        }
        let d = MessageDetails {
            group: Some(GroupChange {
                action: "subject".into(),
                subject: Some("New".into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(MessageDetails::from_column(d.to_column().as_deref()), d);
    }

    #[test]
    fn a_voter_has_one_vote_and_the_latest_wins() {
        use super::{Poll as P, PollVote};
        let vote = |voter: &str, picks: &[&str], t: i64| PollVote {
            voter: voter.into(),
            voter_phone: None,
            selected_options: picks.iter().map(|s| s.to_string()).collect(),
            timestamp: t,
        };
        let mut d = MessageDetails::default();
        assert!(d.record_vote(vote("1@c.us", &["Tea"], 10)));
        assert!(d.record_vote(vote("2@c.us", &["Tea", "Coffee"], 11)));
        assert!(!d.record_vote(vote("1@c.us", &["Tea"], 10)), "the same vote again");
        assert!(!d.record_vote(vote("1@c.us", &["Coffee"], 9)), "an older vote");
        assert!(d.record_vote(vote("1@c.us", &["Coffee"], 12)), "a re-vote replaces");
        assert_eq!(d.poll_votes.len(), 2);
        let poll = P {
            question: "Drink?".into(),
            options: vec!["Tea".into(), "Coffee".into(), "Water".into()],
            multiple: true,
        };
        let tally: Vec<(&str, usize)> = poll
            .tally(&d.poll_votes)
            .into_iter()
            .map(|(o, v)| (o, v.len()))
            .collect();
        assert_eq!(tally, [("Tea", 1), ("Coffee", 2), ("Water", 0)]);
        assert_eq!(poll.picked(&[], &[2, 0, 7]), ["Tea", "Water"]);
        assert_eq!(poll.picked(&["Water".into(), "Milk".into()], &[0]), ["Water"]);
        let col = d.to_column().unwrap();
        assert!(col.contains(r#""pollVotes":[{"voter":"1@c.us""#), "{col}");
        assert_eq!(MessageDetails::from_column(Some(&col)), d);
    }
}
