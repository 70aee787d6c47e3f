//! API key format: `wag_<id>_<secret>`. The id is public and indexes the row; only a keyed hash
//! of the secret is stored (see `key_hash`).

use rand::Rng;
use rand::distr::Alphanumeric;

/// Every key starts with it (`Authorization: Bearer` is ours only with it).
pub const PREFIX: &str = "wag_";
const ID_LEN: usize = 12;
/// 43 alphanumeric characters ≈ 256 bits of entropy.
const SECRET_LEN: usize = 43;

#[derive(Debug, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    pub id: &'a str,
    pub secret: &'a str,
}

/// A new key: (public id, secret, the full key to hand to the user once).
pub fn generate() -> (String, String, String) {
    let mut rng = rand::rng();
    let id: String = (&mut rng)
        .sample_iter(&Alphanumeric)
        .take(ID_LEN)
        .map(|c| (c as char).to_ascii_lowercase())
        .collect();
    let secret: String = rng
        .sample_iter(&Alphanumeric)
        .take(SECRET_LEN)
        .map(char::from)
        .collect();
    let full = format!("{PREFIX}{id}_{secret}");
    (id, secret, full)
}

/// Splits a presented key; None when it is not of our shape (so no database lookup is made).
pub fn parse(key: &str) -> Option<ParsedKey<'_>> {
    let rest = key.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let ok_id = id.len() == ID_LEN && id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let ok_secret = secret.len() == SECRET_LEN && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    (ok_id && ok_secret).then_some(ParsedKey { id, secret })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back() {
        let (id, secret, full) = generate();
        assert_eq!(
            parse(&full),
            Some(ParsedKey {
                id: &id,
                secret: &secret
            })
        );
        assert_ne!(generate().2, full);
    }

    #[test]
    fn malformed_keys_are_rejected() {
        let (_, _, full) = generate();
        for bad in [
            "",
            "wag_",
            "nope",
            &full[..full.len() - 1],
            &full.replace("wag_", "wax_"),
            &format!("{full}x"),
            &full.to_uppercase(),
            "wag_abcdefghijkl_has-a-dash-in-the-secret-which-is-not-allowed-x",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
