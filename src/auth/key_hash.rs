//! How API-key secrets are stored: `hmac-sha256$<64 hex>`, the HMAC-SHA256 of the key id and the
//! secret under a server secret. A secret has 256 bits of entropy, so a slow hash adds nothing
//! against guessing, while it let any client spend ~70 ms of CPU per request with made-up keys.
//! Keys created before carry a bcrypt hash (`$2…`); they are verified with bcrypt once and then
//! rewritten in this form.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

const PREFIX: &str = "hmac-sha256$";
/// Separates this use of the server secret from any later one.
const DOMAIN: &[u8] = b"wagate api key v1\0";

/// The name of the server secret (table `server_secrets`) that keys the HMAC.
pub const SECRET_NAME: &str = "api_key_hmac";

/// A stored verifier in its old form (bcrypt), to be upgraded after one successful bcrypt check.
pub fn is_bcrypt(stored: &str) -> bool {
    stored.starts_with("$2")
}

/// Computes and checks verifiers under one server secret.
#[derive(Clone)]
pub struct KeyHasher {
    mac: Hmac<Sha256>,
}

impl KeyHasher {
    /// `server_secret`: the bytes of the stored secret (any length; ours is 64 hex characters).
    pub fn new(server_secret: &[u8]) -> Self {
        // HMAC takes keys of any length, so this cannot fail.
        let mac = Hmac::<Sha256>::new_from_slice(server_secret).unwrap_or_else(|_| unreachable!());
        KeyHasher { mac }
    }

    /// The verifier to store for key `key_id` with `secret`: `hmac-sha256$` and 64 hex digits.
    /// The id is inside the MAC, so a stored verifier cannot be copied to another key's row.
    pub fn hash(&self, key_id: &str, secret: &str) -> String {
        format!("{PREFIX}{}", hex::encode(self.tag(key_id, secret)))
    }

    /// True when `stored` is the verifier of (`key_id`, `secret`); compared in constant time. A
    /// stored value of another form (bcrypt, garbage) never matches.
    pub fn matches(&self, key_id: &str, secret: &str, stored: &str) -> bool {
        let tag = self.tag(key_id, secret);
        let Some(stored) = stored.strip_prefix(PREFIX).and_then(|h| hex::decode(h).ok()) else {
            // Same work as a real comparison, so the answer's timing says nothing about the row.
            let _ = tag.ct_eq(&[0u8; 32]);
            return false;
        };
        bool::from(tag.as_slice().ct_eq(stored.as_slice()))
    }

    fn tag(&self, key_id: &str, secret: &str) -> [u8; 32] {
        let mut mac = self.mac.clone();
        mac.update(DOMAIN);
        mac.update(key_id.as_bytes());
        mac.update(b"\0");
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifiers_match_only_their_key_and_server_secret() {
        let h = KeyHasher::new(b"server-secret-one");
        let stored = h.hash("abcdefghijkl", "s3cret");
        assert!(
            stored.starts_with("hmac-sha256$") && stored.len() == PREFIX.len() + 64,
            "{stored}"
        );
        assert!(h.matches("abcdefghijkl", "s3cret", &stored));
        assert!(!h.matches("abcdefghijkl", "s3creT", &stored), "another secret");
        assert!(!h.matches("abcdefghijkm", "s3cret", &stored), "another key id");
        assert!(!KeyHasher::new(b"server-secret-two").matches("abcdefghijkl", "s3cret", &stored));
        for other in [
            "",
            "hmac-sha256$",
            "hmac-sha256$zz",
            "$2b$04$abc",
            &stored[..stored.len() - 2],
        ] {
            assert!(!h.matches("abcdefghijkl", "s3cret", other), "{other}");
        }
        assert!(is_bcrypt("$2b$04$abcdefghijklmnopqrstuv") && !is_bcrypt(&stored));
    }
}
