//! Basic auth against the web config's bcrypt hashes. A bcrypt check costs
//! tens of milliseconds by design, so a pair once verified is remembered
//! (as exporter-toolkit does) and scrapes every second stay cheap; an
//! unknown user is checked against a dummy hash so that the answer's
//! timing does not say which users exist.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Mutex, OnceLock};

use base64::Engine as _;

/// Verified pairs kept at most (cleared when full).
const REMEMBERED: usize = 256;

pub struct BasicAuth {
    /// User name to bcrypt hash.
    users: BTreeMap<String, String>,
    verified: Mutex<HashSet<(String, String)>>,
}

/// The user and password of an `Authorization: Basic …` header.
pub fn credentials(header: &str) -> Option<(String, String)> {
    let encoded = header
        .strip_prefix("Basic ")
        .or_else(|| header.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

impl BasicAuth {
    pub fn new(users: BTreeMap<String, String>) -> Self {
        Self {
            users,
            verified: Mutex::new(HashSet::new()),
        }
    }

    /// Whether `credentials` were verified before (no bcrypt check).
    pub fn remembers(&self, credentials: &(String, String)) -> bool {
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(credentials)
    }

    /// Checks `credentials` against the user's hash (blocking: bcrypt)
    /// and remembers them when they pass.
    pub fn verify(&self, credentials: (String, String)) -> bool {
        if self.remembers(&credentials) {
            return true;
        }
        let (user, password) = &credentials;
        let allowed = match self.users.get(user) {
            Some(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            None => {
                let _ = bcrypt::verify(password, dummy_hash());
                false
            }
        };
        if allowed {
            let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            if verified.len() >= REMEMBERED {
                verified.clear();
            }
            verified.insert(credentials);
        }
        allowed
    }
}

/// A hash at bcrypt's default cost, made once.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| bcrypt::hash("pulsewatch-dummy", bcrypt::DEFAULT_COST).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        )
    }

    #[test]
    fn only_the_right_password_passes_and_is_remembered() {
        let hash = bcrypt::hash("s3cret:with colon", 4).expect("hash");
        let auth = BasicAuth::new(BTreeMap::from([("prom".to_owned(), hash)]));
        let right = credentials(&header("prom", "s3cret:with colon")).expect("parsed");
        assert_eq!(right, ("prom".to_owned(), "s3cret:with colon".to_owned()));
        assert!(!auth.remembers(&right));
        assert!(auth.verify(right.clone()));
        assert!(auth.remembers(&right));
        let wrong = credentials(&header("prom", "wrong")).expect("parsed");
        assert!(!auth.verify(wrong.clone()));
        assert!(!auth.remembers(&wrong));
        let stranger = credentials(&header("eve", "s3cret:with colon")).expect("parsed");
        assert!(!auth.verify(stranger));
        assert_eq!(credentials("Bearer abc"), None);
        assert_eq!(credentials("Basic !!!"), None);
    }
}
