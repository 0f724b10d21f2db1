//! Logins, session tokens, API tokens and lockout, over the users file.
//!
//! - A login (Flight Handshake, `authorization: Basic`) checks the password, or an API token
//!   given as the password, and answers with a session token: `cds_<payload>.<mac>`, an
//!   HMAC-SHA256-signed claim of the user name, the user's session epoch and the expiry. Any
//!   server sharing the secret (`--token-secret`) accepts it; nothing is kept in memory.
//! - Every other call carries `authorization: Bearer <token>`: a session token or an API token
//!   (`cdl_<id>_<secret>`). Both are checked against the current users file each time: a
//!   disabled, locked or deleted user, a changed password (new epoch), an expired or revoked
//!   token are refused.
//! - `lockout_attempts` consecutive failed logins lock the account for `lockout_duration`;
//!   the lock is written to the users file, so it survives a restart, and `cdrlake user
//!   unlock` lifts it.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::users::{
    self, Role, User, UsersError, UsersFile, format_time, now, same, sha256_hex, split_api_token,
};

/// Who is calling, as the users file says at the time of the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: String,
    pub role: Role,
    pub tenant: Option<String>,
    pub teams: Vec<String>,
    pub permissions: Vec<String>,
}

impl Principal {
    fn of(u: &User) -> Principal {
        Principal {
            user: u.name.clone(),
            role: u.role,
            tenant: u.tenant.clone(),
            teams: u.teams.clone(),
            permissions: u.permissions.clone(),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn may(&self, permission: &str) -> bool {
        self.is_admin() || self.permissions.iter().any(|p| p == permission)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Users(#[from] UsersError),
}

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub lockout_attempts: u32,
    pub lockout_duration: Duration,
    pub session_ttl: Duration,
    /// The HMAC key of session tokens.
    pub secret: Vec<u8>,
}

#[derive(Debug)]
struct Cached {
    file: UsersFile,
    modified: Option<SystemTime>,
}

#[derive(Debug)]
pub struct Auth {
    path: PathBuf,
    config: AuthConfig,
    cached: Mutex<Cached>,
}

#[derive(Serialize, Deserialize)]
struct Claims {
    /// User name.
    u: String,
    /// The user's session epoch when issued.
    e: u64,
    /// Expiry, Unix seconds.
    x: i64,
}

const SESSION_PREFIX: &str = "cds_";
const BAD_LOGIN: &str = "invalid user name or password";

impl Auth {
    pub fn new(path: &Path, config: AuthConfig) -> Result<Auth, AuthError> {
        let file = UsersFile::load(path)?;
        Ok(Auth {
            path: path.to_path_buf(),
            config,
            cached: Mutex::new(Cached {
                file,
                modified: users::modified(path),
            }),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the current users file (re-read when it changed on disk); `f` returns
    /// whether it changed the file, which is then saved.
    fn with_file<T>(&self, f: impl FnOnce(&mut UsersFile) -> (T, bool)) -> Result<T, AuthError> {
        let mut cached = self
            .cached
            .lock()
            .map_err(|_| AuthError::Unauthenticated("user store unavailable".into()))?;
        let modified = users::modified(&self.path);
        if modified != cached.modified {
            cached.file = UsersFile::load(&self.path)?;
            cached.modified = modified;
        }
        let (out, changed) = f(&mut cached.file);
        if changed {
            cached.file.save(&self.path)?;
            cached.modified = users::modified(&self.path);
        }
        Ok(out)
    }

    /// Checks a user name and password (or API token) and issues a session token.
    pub fn login(&self, name: &str, secret: &str) -> Result<(Principal, String), AuthError> {
        let now = now();
        // Look the user up (and lift an expired lock) before the slow password check.
        let user = self.with_file(|f| {
            let Ok(u) = f.get_mut(name) else {
                return (None, false);
            };
            let mut changed = false;
            if u.locked_until.is_some() && u.locked(now).is_none() {
                u.locked_at = None;
                u.locked_until = None;
                u.failed_logins = 0;
                changed = true;
            }
            (Some(u.clone()), changed)
        })?;
        let Some(user) = user else {
            // Same work as for a real user, so timing does not tell which names exist.
            let _ = users::verify_password(dummy_hash(), secret);
            return Err(AuthError::Unauthenticated(BAD_LOGIN.into()));
        };
        if let Some(until) = user.locked(now) {
            return Err(AuthError::Unauthenticated(format!(
                "account {name} is locked after too many failed logins until {}",
                format_time(until)
            )));
        }
        if user.disabled {
            return Err(AuthError::Unauthenticated(format!(
                "account {name} is disabled"
            )));
        }
        let ok = if secret.starts_with(users::API_TOKEN_PREFIX) {
            api_token_ok(&user, secret, now)
        } else {
            users::verify_password(&user.password_hash, secret)
        };
        let attempts = self.config.lockout_attempts;
        let lock_for = self.config.lockout_duration;
        let locked = self.with_file(|f| {
            let Ok(u) = f.get_mut(name) else {
                return (None, false);
            };
            if ok {
                let changed = u.failed_logins != 0;
                u.failed_logins = 0;
                return (None, changed);
            }
            u.failed_logins += 1;
            if attempts > 0 && u.failed_logins >= attempts {
                let until = now + chrono::Duration::from_std(lock_for).unwrap_or_default();
                u.locked_at = Some(format_time(now));
                u.locked_until = Some(format_time(until));
                return (Some(until), true);
            }
            (None, true)
        })?;
        if let Some(until) = locked {
            tracing::warn!(user = name, until = %format_time(until), "account locked after {attempts} failed logins");
        }
        if !ok {
            return Err(AuthError::Unauthenticated(BAD_LOGIN.into()));
        }
        let token = self.issue(&user, now)?;
        Ok((Principal::of(&user), token))
    }

    fn issue(&self, user: &User, now: DateTime<Utc>) -> Result<String, AuthError> {
        let ttl = chrono::Duration::from_std(self.config.session_ttl).unwrap_or_default();
        let claims = Claims {
            u: user.name.clone(),
            e: user.session_epoch,
            x: (now + ttl).timestamp(),
        };
        let payload = serde_json::to_vec(&claims)
            .map_err(|e| AuthError::Unauthenticated(format!("session token: {e}")))?;
        let payload = URL_SAFE_NO_PAD.encode(payload);
        let mac = URL_SAFE_NO_PAD.encode(hmac_sha256(&self.config.secret, payload.as_bytes()));
        Ok(format!("{SESSION_PREFIX}{payload}.{mac}"))
    }

    /// Checks a bearer token (session or API token) and returns its user.
    pub fn check_bearer(&self, token: &str) -> Result<Principal, AuthError> {
        let now = now();
        if let Some(rest) = token.strip_prefix(SESSION_PREFIX) {
            let bad = || AuthError::Unauthenticated("invalid session token".into());
            let (payload, mac) = rest.split_once('.').ok_or_else(bad)?;
            let want = URL_SAFE_NO_PAD.encode(hmac_sha256(&self.config.secret, payload.as_bytes()));
            if !same(&want, mac) {
                return Err(bad());
            }
            let claims: Claims = URL_SAFE_NO_PAD
                .decode(payload)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok())
                .ok_or_else(bad)?;
            if claims.x <= now.timestamp() {
                return Err(AuthError::Unauthenticated(
                    "session token expired: log in again".into(),
                ));
            }
            return self.with_file(|f| {
                let r = match f.get(&claims.u) {
                    Some(u) if u.session_epoch != claims.e => Err(AuthError::Unauthenticated(
                        "session token revoked (password changed or account disabled): log in again"
                            .into(),
                    )),
                    Some(u) => usable(u, now).map(|_| Principal::of(u)),
                    None => Err(bad()),
                };
                (r, false)
            })?;
        }
        if let Some((id, _)) = split_api_token(token) {
            return self.with_file(|f| {
                let user = f.users.iter().find(|u| u.tokens.iter().any(|t| t.id == id));
                let r = match user {
                    Some(u) if api_token_ok(u, token, now) => {
                        usable(u, now).map(|_| Principal::of(u))
                    }
                    Some(u) => Err(AuthError::Unauthenticated(api_token_problem(u, token, now))),
                    None => Err(AuthError::Unauthenticated("invalid API token".into())),
                };
                (r, false)
            })?;
        }
        Err(AuthError::Unauthenticated(
            "invalid bearer token: log in with the Flight handshake (Basic) first".into(),
        ))
    }

    /// Locked accounts: (user, locked_at, locked_until).
    pub fn locked_accounts(&self) -> Result<Vec<(String, String, String)>, AuthError> {
        let now = now();
        self.with_file(|f| {
            let rows = f
                .users
                .iter()
                .filter(|u| u.locked(now).is_some())
                .map(|u| {
                    (
                        u.name.clone(),
                        u.locked_at.clone().unwrap_or_default(),
                        u.locked_until.clone().unwrap_or_default(),
                    )
                })
                .collect();
            (rows, false)
        })
    }
}

fn usable(u: &User, now: DateTime<Utc>) -> Result<(), AuthError> {
    if u.disabled {
        return Err(AuthError::Unauthenticated(format!(
            "account {} is disabled",
            u.name
        )));
    }
    if let Some(until) = u.locked(now) {
        return Err(AuthError::Unauthenticated(format!(
            "account {} is locked until {}",
            u.name,
            format_time(until)
        )));
    }
    Ok(())
}

fn api_token_ok(u: &User, token: &str, now: DateTime<Utc>) -> bool {
    let Some((id, secret)) = split_api_token(token) else {
        return false;
    };
    let hash = sha256_hex(secret.as_bytes());
    u.tokens.iter().any(|t| {
        t.id == id
            && same(&t.hash, &hash)
            && !t.revoked
            && t.expires
                .as_deref()
                .and_then(users::parse_time)
                .is_none_or(|e| e > now)
    })
}

fn api_token_problem(u: &User, token: &str, now: DateTime<Utc>) -> String {
    let Some((id, _)) = split_api_token(token) else {
        return "invalid API token".into();
    };
    match u.tokens.iter().find(|t| t.id == id) {
        Some(t) if t.revoked => format!("API token {id} was revoked"),
        Some(t)
            if t.expires
                .as_deref()
                .and_then(users::parse_time)
                .is_some_and(|e| e <= now) =>
        {
            format!(
                "API token {id} expired at {}",
                t.expires.clone().unwrap_or_default()
            )
        }
        _ => "invalid API token".into(),
    }
}

/// An argon2 hash of a random password, verified against for unknown user names.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| {
        users::hash_password(&URL_SAFE_NO_PAD.encode(users::random_bytes(12))).unwrap_or_default()
    })
}

/// HMAC-SHA256 (RFC 2104).
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        let d = Sha256::digest(key);
        k[..d.len()].copy_from_slice(&d);
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut ipad = [0x36u8; 64];
    let mut opad = [0x5cu8; 64];
    for i in 0..64 {
        ipad[i] ^= k[i];
        opad[i] ^= k[i];
    }
    let mut inner = Sha256::new();
    inner.update(ipad);
    inner.update(message);
    let inner = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(opad);
    outer.update(inner);
    outer.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::users::hash_password;

    fn setup(attempts: u32) -> (tempfile::TempDir, Auth) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users.toml");
        let mut f = UsersFile::default();
        f.add(User {
            tenant: Some("hudson".into()),
            ..User::new(
                "ann",
                Role::TenantAdmin,
                hash_password("right").expect("hash"),
            )
        })
        .expect("add");
        f.save(&path).expect("save");
        let auth = Auth::new(
            &path,
            AuthConfig {
                lockout_attempts: attempts,
                lockout_duration: Duration::from_secs(1800),
                session_ttl: Duration::from_secs(3600),
                secret: b"test secret".to_vec(),
            },
        )
        .expect("auth");
        (dir, auth)
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn login_issues_a_token_that_checks_and_a_tampered_one_does_not() {
        let (_d, auth) = setup(5);
        let (p, token) = auth.login("ann", "right").expect("login");
        assert_eq!(p.tenant.as_deref(), Some("hudson"));
        assert_eq!(auth.check_bearer(&token).expect("bearer").user, "ann");
        let (head, mac) = token.rsplit_once('.').expect("shape");
        let forged = format!("{head}.{}", mac.chars().rev().collect::<String>());
        assert!(auth.check_bearer(&forged).is_err());
        let other = Auth::new(
            auth.path(),
            AuthConfig {
                secret: b"another secret".to_vec(),
                ..auth.config.clone()
            },
        )
        .expect("auth");
        assert!(
            other.check_bearer(&token).is_err(),
            "another server's secret"
        );
    }

    #[test]
    fn five_failures_lock_and_the_lock_is_in_the_file() {
        let (_d, auth) = setup(5);
        for _ in 0..5 {
            assert!(auth.login("ann", "wrong").is_err());
        }
        let err = auth.login("ann", "right").expect_err("locked");
        assert!(err.to_string().contains("locked"), "{err}");
        let file = UsersFile::load(auth.path()).expect("load");
        assert!(file.get("ann").and_then(|u| u.locked(now())).is_some());
        assert_eq!(auth.locked_accounts().expect("locked").len(), 1);
        // Unlocking in the file (as `cdrlake user unlock` does) is seen at once.
        let mut file = file;
        let u = file.get_mut("ann").expect("ann");
        u.locked_until = None;
        u.failed_logins = 0;
        std::thread::sleep(Duration::from_millis(20));
        file.save(auth.path()).expect("save");
        auth.login("ann", "right").expect("unlocked");
    }

    #[test]
    fn a_success_resets_the_count_and_an_unknown_user_is_refused() {
        let (_d, auth) = setup(3);
        assert!(auth.login("ann", "wrong").is_err());
        assert!(auth.login("ann", "wrong").is_err());
        auth.login("ann", "right").expect("login");
        assert!(auth.login("ann", "wrong").is_err());
        auth.login("ann", "right").expect("still not locked");
        let err = auth.login("nobody", "x").expect_err("unknown");
        assert_eq!(err.to_string(), BAD_LOGIN);
    }
}
