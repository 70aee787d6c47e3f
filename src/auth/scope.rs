//! What an API key may do (issue 18): a subset of the scopes `read`, `send`, `manage`, and
//! optionally a list of the user's sessions. A key without limits (every key made before scopes
//! existed: both columns NULL) has full rights, which alone allow the routes that could widen a
//! key's rights (API keys) or that are the operator's (cluster).
//!
//! Which scope a route needs is decided in one table, `http::route_scope`.

use std::collections::BTreeSet;

use serde_json::{Value, json};

/// A right a key may hold. `Read`: status, history, messages, contacts, events. `Send`: messages
/// and chat actions (read receipts, presence). `Manage`: sessions (link, restart, log out,
/// delete), groups, webhooks.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    strum::IntoStaticStr,
    strum::EnumString,
    strum::VariantArray,
)]
#[strum(serialize_all = "lowercase")]
pub enum Scope {
    Read,
    Send,
    Manage,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// The limits of one key. `None` in a field means "no limit there".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grant {
    /// The scopes held; None: all of them.
    pub scopes: Option<BTreeSet<Scope>>,
    /// The session names the key may use; None: every session of its user.
    pub sessions: Option<BTreeSet<String>>,
}

/// The longest session list a key may carry.
pub const MAX_SESSIONS: usize = 100;

impl Grant {
    /// Full rights: the grant of every key made without limits.
    pub fn full() -> Self {
        Grant::default()
    }

    pub fn is_full(&self) -> bool {
        self.scopes.is_none() && self.sessions.is_none()
    }

    /// True when the key holds `scope`.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.as_ref().is_none_or(|s| s.contains(&scope))
    }

    /// True when the key may use the session called `name`.
    pub fn reaches(&self, name: &str) -> bool {
        self.sessions.as_ref().is_none_or(|s| s.contains(name))
    }

    /// True when the key is not limited to some sessions.
    pub fn reaches_all(&self) -> bool {
        self.sessions.is_none()
    }

    /// The grant stored in a key's `scopes` and `sessions` columns (comma-separated). An entry
    /// that is not a scope is dropped: a damaged row gives fewer rights, never more.
    pub fn from_columns(scopes: Option<&str>, sessions: Option<&str>) -> Self {
        let list = |s: &str| {
            s.split(',')
                .map(str::trim)
                .filter(|e| !e.is_empty())
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        Grant {
            scopes: scopes.map(|s| list(s).iter().filter_map(|e| e.parse().ok()).collect()),
            sessions: sessions.map(|s| list(s).into_iter().collect()),
        }
    }

    /// The `(scopes, sessions)` column values; every scope is stored as NULL (no limit).
    pub fn columns(&self) -> (Option<String>, Option<String>) {
        let scopes = self
            .scopes
            .as_ref()
            .filter(|s| s.len() < <Scope as strum::VariantArray>::VARIANTS.len())
            .map(|s| s.iter().map(|x| x.as_str()).collect::<Vec<_>>().join(","));
        let sessions = self
            .sessions
            .as_ref()
            .map(|s| s.iter().cloned().collect::<Vec<_>>().join(","));
        (scopes, sessions)
    }

    /// A grant from a request: `scopes` (absent: all) and `sessions` (absent: all). Errors name
    /// the field: an unknown scope, an empty list (a key that could do nothing), a session name
    /// that is not one (same rule as the `session` selector), more than [`MAX_SESSIONS`] sessions.
    pub fn parse(scopes: Option<&[String]>, sessions: Option<&[String]>) -> Result<Grant, (&'static str, String)> {
        let scopes = match scopes {
            None => None,
            Some([]) => return Err(("scopes", "scopes must name at least one of read, send, manage".into())),
            Some(list) => Some(
                list.iter()
                    .map(|s| {
                        s.trim()
                            .parse::<Scope>()
                            .map_err(|_| ("scopes", format!("unknown scope `{s}`: use read, send or manage")))
                    })
                    .collect::<Result<BTreeSet<_>, _>>()?,
            ),
        };
        let sessions = match sessions {
            None => None,
            Some([]) => return Err(("sessions", "sessions must name at least one session".into())),
            Some(list) if list.len() > MAX_SESSIONS => {
                return Err(("sessions", format!("sessions may name at most {MAX_SESSIONS} sessions")));
            }
            Some(list) => Some(
                list.iter()
                    .map(|s| {
                        let s = s.trim();
                        let ok = (1..=64).contains(&s.len())
                            && s.chars()
                                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
                        ok.then(|| s.to_string()).ok_or((
                            "sessions",
                            format!("`{s}` is not a session name (1 to 64 letters, digits, '-', '_' or '.')"),
                        ))
                    })
                    .collect::<Result<BTreeSet<_>, _>>()?,
            ),
        };
        Ok(Grant { scopes, sessions })
    }

    /// `{"scopes": ["read", …], "sessions": [..] | null, "fullRights": bool}` as the API shows it.
    pub fn json(&self) -> Value {
        let scopes: Vec<&str> = <Scope as strum::VariantArray>::VARIANTS
            .iter()
            .filter(|s| self.has(**s))
            .map(|s| s.as_str())
            .collect();
        json!({
            "scopes": scopes,
            "sessions": self.sessions,
            "fullRights": self.is_full(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn unlimited_columns_are_full_rights() {
        let g = Grant::from_columns(None, None);
        assert!(g.is_full() && g.has(Scope::Manage) && g.reaches("any") && g.reaches_all());
        assert_eq!(g.columns(), (None, None));
    }

    #[test]
    fn limits_round_trip_through_the_columns() {
        let g = Grant::parse(Some(&strings(&["send", "read"])), Some(&strings(&["sales", "b.2"]))).unwrap();
        let (scopes, sessions) = g.columns();
        assert_eq!(scopes.as_deref(), Some("read,send"));
        assert_eq!(sessions.as_deref(), Some("b.2,sales"));
        let back = Grant::from_columns(scopes.as_deref(), sessions.as_deref());
        assert_eq!(back, g);
        assert!(back.has(Scope::Read) && back.has(Scope::Send) && !back.has(Scope::Manage));
        assert!(back.reaches("sales") && !back.reaches("default") && !back.reaches_all());
        // Every scope and no session list is the same as no limit at all.
        let all = Grant::parse(Some(&strings(&["read", "send", "manage"])), None).unwrap();
        assert_eq!(all.columns(), (None, None));
    }

    #[test]
    fn bad_input_names_the_field_and_damaged_rows_lose_rights() {
        assert_eq!(Grant::parse(Some(&strings(&["admin"])), None).unwrap_err().0, "scopes");
        assert_eq!(Grant::parse(Some(&[]), None).unwrap_err().0, "scopes");
        assert_eq!(Grant::parse(None, Some(&[])).unwrap_err().0, "sessions");
        assert_eq!(Grant::parse(None, Some(&strings(&["a b"]))).unwrap_err().0, "sessions");
        let many: Vec<String> = (0..=MAX_SESSIONS).map(|i| format!("s{i}")).collect();
        assert_eq!(Grant::parse(None, Some(&many)).unwrap_err().0, "sessions");
        let damaged = Grant::from_columns(Some("read,superuser"), None);
        assert!(damaged.has(Scope::Read) && !damaged.has(Scope::Send) && !damaged.is_full());
    }
}
