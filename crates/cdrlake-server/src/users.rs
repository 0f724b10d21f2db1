//! The users file: accounts, roles, password and API-token hashes, lockout state.
//!
//! A TOML file (`cdrlake user ...` manages it; the server reads it and records failed logins
//! and locks in it, so a lock survives a restart). Secrets are never stored: passwords as
//! argon2id PHC strings, API tokens as the SHA-256 of their secret part. Every write replaces
//! the file atomically (write to a temporary file, then rename).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Every tenant, the system tables, ingest.
    Admin,
    /// One tenant's rows.
    TenantAdmin,
    /// One tenant's rows of the listed teams.
    TeamAdmin,
    /// A team member: no reporting access (the Stratus seed).
    Member,
}

impl Role {
    pub fn parse(s: &str) -> Result<Role, UsersError> {
        Ok(match s {
            "admin" => Role::Admin,
            "tenant_admin" => Role::TenantAdmin,
            "team_admin" => Role::TeamAdmin,
            "member" => Role::Member,
            other => {
                return Err(UsersError::Invalid(format!(
                    "unknown role '{other}': use admin, tenant_admin, team_admin or member"
                )));
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::TenantAdmin => "tenant_admin",
            Role::TeamAdmin => "team_admin",
            Role::Member => "member",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Permissions beyond reading reports (the tenant-console seed).
pub const PERMISSIONS: &[&str] = &["export", "schedule", "ingest"];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Token {
    pub id: String,
    #[serde(default)]
    pub label: String,
    /// Hex SHA-256 of the token's secret part.
    pub hash: String,
    pub created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    #[serde(default)]
    pub revoked: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default)]
    pub teams: Vec<String>,
    #[serde(default)]
    pub permissions: Vec<String>,
    /// argon2id PHC string.
    pub password_hash: String,
    #[serde(default)]
    pub disabled: bool,
    #[serde(default)]
    pub failed_logins: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked_until: Option<String>,
    /// Bumped by `passwd` and `disable`: session tokens issued before are refused.
    #[serde(default)]
    pub session_epoch: u64,
    #[serde(default)]
    pub tokens: Vec<Token>,
}

impl User {
    /// A new, enabled account with no tokens.
    pub fn new(name: &str, role: Role, password_hash: String) -> User {
        User {
            name: name.to_string(),
            role,
            tenant: None,
            teams: vec![],
            permissions: vec![],
            password_hash,
            disabled: false,
            failed_logins: 0,
            locked_at: None,
            locked_until: None,
            session_epoch: 0,
            tokens: vec![],
        }
    }

    /// When the account unlocks, if it is locked at `now`.
    pub fn locked(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let until = parse_time(self.locked_until.as_deref()?)?;
        (until > now).then_some(until)
    }
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct UsersFile {
    #[serde(default, rename = "user")]
    pub users: Vec<User>,
}

#[derive(Debug, thiserror::Error)]
pub enum UsersError {
    #[error("users file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("users file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("no user named '{0}'")]
    NoSuchUser(String),
}

pub fn now() -> DateTime<Utc> {
    Utc::now()
}

pub fn format_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Parses a duration like `30s`, `30m`, `12h`, `90d` (or a plain number of seconds).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration: use e.g. 30s, 15m, 12h or 90d"))?;
    let secs = match unit.trim() {
        "s" | "sec" | "secs" | "seconds" => n,
        "m" | "min" | "mins" | "minutes" => n * 60,
        "h" | "hour" | "hours" => n * 3600,
        "d" | "day" | "days" => n * 86_400,
        other => {
            return Err(format!(
                "'{s}': unknown duration unit '{other}': use s, m, h or d"
            ));
        }
    };
    Ok(std::time::Duration::from_secs(secs))
}

pub fn hash_password(password: &str) -> Result<String, UsersError> {
    if password.is_empty() {
        return Err(UsersError::Invalid("the password is empty".into()));
    }
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| UsersError::Invalid(format!("password salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| UsersError::Invalid(format!("hashing the password: {e}")))
}

pub fn verify_password(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Constant-time equality of two strings of the same length.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::rng().fill_bytes(&mut v);
    v
}

/// The prefix of API tokens: `cdl_<id>_<secret>`.
pub const API_TOKEN_PREFIX: &str = "cdl_";

/// Splits an API token into (id, secret).
pub fn split_api_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(API_TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

impl UsersFile {
    /// Reads the file; a missing file is an empty one.
    pub fn load(path: &Path) -> Result<UsersFile, UsersError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(UsersFile::default()),
            Err(source) => {
                return Err(UsersError::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let file: UsersFile = toml::from_str(&text).map_err(|e| UsersError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        file.check().map_err(|message| UsersError::Parse {
            path: path.to_path_buf(),
            message,
        })?;
        Ok(file)
    }

    /// Writes the file atomically (temporary file in the same directory, then rename).
    pub fn save(&self, path: &Path) -> Result<(), UsersError> {
        let io = |source| UsersError::Io {
            path: path.to_path_buf(),
            source,
        };
        let text = toml::to_string_pretty(self).map_err(|e| UsersError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let header = "# cdrlake users: managed by `cdrlake user ...`. Only hashes of passwords and tokens.\n";
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "users.toml".into());
        let tmp = dir.join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            URL_SAFE_NO_PAD.encode(random_bytes(6))
        ));
        std::fs::write(&tmp, format!("{header}{text}")).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)
    }

    fn check(&self) -> Result<(), String> {
        let mut seen = std::collections::HashSet::new();
        for u in &self.users {
            if !seen.insert(u.name.as_str()) {
                return Err(format!("user '{}' appears twice", u.name));
            }
            check_user(u)?;
        }
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    pub fn get_mut(&mut self, name: &str) -> Result<&mut User, UsersError> {
        self.users
            .iter_mut()
            .find(|u| u.name == name)
            .ok_or_else(|| UsersError::NoSuchUser(name.to_string()))
    }

    pub fn add(&mut self, user: User) -> Result<(), UsersError> {
        if self.get(&user.name).is_some() {
            return Err(UsersError::Invalid(format!(
                "user '{}' already exists (use `cdrlake user passwd` to change the password)",
                user.name
            )));
        }
        check_user(&user).map_err(UsersError::Invalid)?;
        self.users.push(user);
        Ok(())
    }

    /// Creates an API token for `name`, valid for `expires` (or forever); returns the token
    /// (shown once) and its id.
    pub fn new_token(
        &mut self,
        name: &str,
        label: &str,
        expires: Option<std::time::Duration>,
    ) -> Result<(String, String), UsersError> {
        let user = self.get_mut(name)?;
        let id: String = random_bytes(4).iter().map(|b| format!("{b:02x}")).collect();
        let secret = URL_SAFE_NO_PAD.encode(random_bytes(32));
        let now = now();
        let expires = match expires {
            Some(d) => Some(
                now + chrono::Duration::from_std(d)
                    .map_err(|e| UsersError::Invalid(format!("token expiry: {e}")))?,
            ),
            None => None,
        };
        user.tokens.push(Token {
            id: id.clone(),
            label: label.to_string(),
            hash: sha256_hex(secret.as_bytes()),
            created: format_time(now),
            expires: expires.map(format_time),
            revoked: false,
        });
        Ok((format!("{API_TOKEN_PREFIX}{id}_{secret}"), id))
    }

    /// Revokes the token with this id (or this whole token) of `name`.
    pub fn revoke_token(&mut self, name: &str, id_or_token: &str) -> Result<String, UsersError> {
        let id = split_api_token(id_or_token)
            .map(|(id, _)| id)
            .unwrap_or(id_or_token)
            .to_string();
        let user = self.get_mut(name)?;
        let token = user
            .tokens
            .iter_mut()
            .find(|t| t.id == id)
            .ok_or_else(|| UsersError::Invalid(format!("user '{name}' has no token '{id}'")))?;
        token.revoked = true;
        Ok(id)
    }
}

fn check_user(u: &User) -> Result<(), String> {
    if u.name.is_empty() || u.name.contains([':', ' ', '\t', '\n']) {
        return Err(format!(
            "user name '{}' must be non-empty, without spaces or ':'",
            u.name
        ));
    }
    match u.role {
        Role::Admin => {}
        Role::TenantAdmin | Role::Member if u.tenant.as_deref().unwrap_or("").is_empty() => {
            return Err(format!("user '{}': role {} needs a tenant", u.name, u.role));
        }
        Role::TeamAdmin if u.tenant.as_deref().unwrap_or("").is_empty() || u.teams.is_empty() => {
            return Err(format!(
                "user '{}': role team_admin needs a tenant and at least one team",
                u.name
            ));
        }
        _ => {}
    }
    for p in &u.permissions {
        if !PERMISSIONS.contains(&p.as_str()) {
            return Err(format!(
                "user '{}': unknown permission '{p}' (known: {})",
                u.name,
                PERMISSIONS.join(", ")
            ));
        }
    }
    Ok(())
}

/// The file's modification time, to notice changes made by `cdrlake user`.
pub fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, role: Role) -> User {
        User {
            tenant: Some("hudson".into()),
            teams: vec!["hudson-lit".into()],
            ..User::new(name, role, hash_password("secret pw").expect("hash"))
        }
    }

    #[test]
    fn passwords_and_tokens_are_stored_hashed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users.toml");
        let mut f = UsersFile::default();
        f.add(user("alice", Role::TenantAdmin)).expect("add");
        let (token, id) = f.new_token("alice", "ci", None).expect("token");
        f.save(&path).expect("save");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(!text.contains("secret pw"));
        let (_, secret) = split_api_token(&token).expect("token shape");
        assert!(!text.contains(secret));
        let back = UsersFile::load(&path).expect("load");
        let alice = back.get("alice").expect("alice");
        assert!(verify_password(&alice.password_hash, "secret pw"));
        assert!(!verify_password(&alice.password_hash, "secret pX"));
        assert_eq!(alice.tokens[0].id, id);
        assert_eq!(alice.tokens[0].hash, sha256_hex(secret.as_bytes()));
    }

    #[test]
    fn roles_need_their_tenant_and_teams() {
        let mut f = UsersFile::default();
        let mut u = user("bob", Role::TeamAdmin);
        u.teams.clear();
        let err = f.add(u).expect_err("team admin without teams");
        assert!(err.to_string().contains("at least one team"), "{err}");
        let mut u = user("carl", Role::TenantAdmin);
        u.tenant = None;
        assert!(f.add(u).is_err());
        let mut u = user("dora", Role::Admin);
        u.permissions = vec!["fly".into()];
        assert!(f.add(u).is_err());
        f.add(user("erin", Role::Member)).expect("member");
        assert!(f.add(user("erin", Role::Member)).is_err(), "duplicate");
    }

    #[test]
    fn a_damaged_file_names_itself() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("users.toml");
        std::fs::write(&path, "[[user]]\nname = 3\n").expect("write");
        let err = UsersFile::load(&path).expect_err("bad file");
        assert!(err.to_string().contains("users.toml"), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").expect("s").as_secs(), 90);
        assert_eq!(parse_duration("30m").expect("m").as_secs(), 1800);
        assert_eq!(parse_duration("2d").expect("d").as_secs(), 172_800);
        assert!(parse_duration("3 weeks").is_err());
        assert!(parse_duration("h").is_err());
    }
}
