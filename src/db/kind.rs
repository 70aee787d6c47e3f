//! `MessageKind`: WhatsApp's message types (`Msg.type` on the page), mapped to the strings the
//! database, the API and the page use in this one place.

use diesel::deserialize::FromSqlRow;
use diesel::expression::AsExpression;
use diesel::sql_types::Text;

/// What a message is. The stored and API string is WhatsApp's own type name (`chat`, `image`,
/// `video`, `audio`, `ptt` for a voice note, `document`, `sticker`); types wagate does not send
/// (location, vcard, poll_creation, …) arrive from the page and are kept as `Other`.
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

#[cfg(test)]
mod tests {
    use super::MessageKind::{self, *};

    #[test]
    fn one_spelling_per_kind() {
        for k in [Chat, Image, Video, Audio, Ptt, Document, Sticker] {
            assert_eq!(MessageKind::parse(k.as_str()), k);
        }
        assert_eq!(MessageKind::from_media_type("voice"), Some(Ptt));
        assert_eq!(Ptt.as_str(), "ptt", "stored as WhatsApp spells it");
        assert_eq!(Ptt.media_type_name(), "voice");
        assert_eq!(MessageKind::from_media_type("file"), Some(Document));
        assert_eq!(MessageKind::from_media_type("chat"), None);
        assert_eq!(MessageKind::parse("vcard"), Other("vcard".into()));
    }
}
