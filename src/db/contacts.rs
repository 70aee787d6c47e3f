//! LID ↔ phone pairs (`lid_map`): what WhatsApp Web revealed to a session's page, and the phones
//! filled into that session's messages once known.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::schema::{lid_map as l, messages as m, whatsapp_sessions as s};
use super::{Database, DbResult, dispatch};

/// One stored pair, with the session that saw it.
#[derive(Debug, Clone, Queryable)]
pub struct LidPairRow {
    /// `<digits>@lid`.
    pub lid: String,
    /// Digits only.
    pub phone: String,
    pub session_name: String,
    pub first_seen_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = l)]
struct NewPair<'a> {
    user_id: i64,
    session_id: i64,
    lid: &'a str,
    phone: &'a str,
    first_seen_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

impl Database {
    /// Records `(lid, phone)` pairs seen by a session (`lid` as `<digits>@lid`, `phone` digits): a
    /// known LID gets its phone replaced. The session's messages with that LID as chat or sender
    /// and no phone yet get it, in the same transaction.
    /// Pairs that are not `<digits>@lid` and digits (the page is not trusted with the database's
    /// text) are skipped.
    pub async fn record_lid_pairs(&self, user_id: i64, session_id: i64, pairs: Vec<(String, String)>) -> DbResult<()> {
        let digits = |s: &str| !s.is_empty() && s.len() <= 32 && s.bytes().all(|b| b.is_ascii_digit());
        let pairs: Vec<(String, String)> = pairs
            .into_iter()
            .filter(|(lid, phone)| lid.strip_suffix("@lid").is_some_and(digits) && digits(phone))
            .collect();
        if pairs.is_empty() {
            return Ok(());
        }
        self.run(move |mut conn| async move {
            dispatch!(&mut conn, |c| c
                .transaction::<_, diesel::result::Error, _>(async |c| {
                    let now = crate::db::now();
                    for (lid, phone) in &pairs {
                        diesel::insert_into(l::table)
                            .values(NewPair {
                                user_id,
                                session_id,
                                lid,
                                phone,
                                first_seen_at: now,
                                updated_at: now,
                            })
                            .on_conflict((l::session_id, l::lid))
                            .do_update()
                            .set((l::phone.eq(phone), l::updated_at.eq(now)))
                            .execute(c)
                            .await?;
                        diesel::update(
                            m::table
                                .filter(m::session_id.eq(session_id))
                                .filter(m::chat_id.eq(lid))
                                .filter(m::chat_phone.is_null()),
                        )
                        .set(m::chat_phone.eq(phone))
                        .execute(c)
                        .await?;
                        diesel::update(
                            m::table
                                .filter(m::session_id.eq(session_id))
                                .filter(m::sender.eq(lid))
                                .filter(m::sender_phone.is_null()),
                        )
                        .set(m::sender_phone.eq(phone))
                        .execute(c)
                        .await?;
                    }
                    Ok(())
                })
                .await)?;
            Ok(())
        })
        .await
    }

    /// The newest pair for this LID (`<digits>@lid`) among the user's sessions.
    pub async fn pair_by_lid(&self, user_id: i64, lid: &str) -> DbResult<Option<LidPairRow>> {
        self.newest_pair(user_id, PairKey::Lid(lid.to_string())).await
    }

    /// The newest pair for this phone number (digits) among the user's sessions.
    pub async fn pair_by_phone(&self, user_id: i64, phone: &str) -> DbResult<Option<LidPairRow>> {
        self.newest_pair(user_id, PairKey::Phone(phone.to_string())).await
    }

    async fn newest_pair(&self, user_id: i64, key: PairKey) -> DbResult<Option<LidPairRow>> {
        self.run(move |mut conn| async move {
            Ok(dispatch!(&mut conn, |c| {
                let q = l::table
                    .inner_join(s::table)
                    .filter(l::user_id.eq(user_id))
                    .into_boxed();
                let q = match &key {
                    PairKey::Lid(lid) => q.filter(l::lid.eq(lid.clone())),
                    PairKey::Phone(phone) => q.filter(l::phone.eq(phone.clone())),
                };
                q.order(l::updated_at.desc())
                    .select((l::lid, l::phone, s::name, l::first_seen_at, l::updated_at))
                    .first::<LidPairRow>(c)
                    .await
                    .optional()
            })?)
        })
        .await
    }
}

/// Which side of a LID ↔ phone pair a lookup starts from.
enum PairKey {
    Lid(String),
    Phone(String),
}
