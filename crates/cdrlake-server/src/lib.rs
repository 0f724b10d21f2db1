//! The Arrow Flight SQL server (`cdrlake serve`): the lake, its reports and functions for
//! any Flight SQL client (ADBC, JDBC, pyarrow.flight, BI tools), with users, roles and
//! row-level tenant isolation.
//!
//! - [`users`]: the users file (`cdrlake user ...`).
//! - [`auth`]: logins, session and API tokens, lockout.
//! - [`service`]: the Flight SQL service.
//! - [`metadata`]: SqlInfo, XDBC type info, wire types.

pub mod auth;
pub mod metadata;
pub mod service;
pub mod users;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use arrow_flight::flight_service_server::FlightServiceServer;
use cdrlake_engine::EngineOptions;
use cdrlake_store::Store;
use serde::Deserialize;
use tonic::transport::{Identity, Server, ServerTlsConfig};

pub use service::{CdrlakeFlightSql, Limits};

/// Server settings, from `--config FILE.toml`, environment variables and options (options and
/// environment win over the file). Durations are like `30s`, `10m`, `12h`; sizes like
/// `512MiB`, `2GiB`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    pub store: Option<String>,
    pub listen: Option<String>,
    pub users: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub max_concurrent_queries: Option<usize>,
    pub query_timeout: Option<String>,
    pub query_memory: Option<String>,
    pub lockout_attempts: Option<u32>,
    pub lockout_duration: Option<String>,
    pub session_ttl: Option<String>,
    pub token_secret: Option<String>,
    pub refresh: Option<String>,
    pub shutdown_grace: Option<String>,
}

impl ServeConfig {
    pub fn from_file(path: &std::path::Path) -> Result<ServeConfig, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("config file {}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))
    }

    /// `self` with every unset field taken from `other`.
    pub fn or(self, other: ServeConfig) -> ServeConfig {
        ServeConfig {
            store: self.store.or(other.store),
            listen: self.listen.or(other.listen),
            users: self.users.or(other.users),
            tls_cert: self.tls_cert.or(other.tls_cert),
            tls_key: self.tls_key.or(other.tls_key),
            max_concurrent_queries: self.max_concurrent_queries.or(other.max_concurrent_queries),
            query_timeout: self.query_timeout.or(other.query_timeout),
            query_memory: self.query_memory.or(other.query_memory),
            lockout_attempts: self.lockout_attempts.or(other.lockout_attempts),
            lockout_duration: self.lockout_duration.or(other.lockout_duration),
            session_ttl: self.session_ttl.or(other.session_ttl),
            token_secret: self.token_secret.or(other.token_secret),
            refresh: self.refresh.or(other.refresh),
            shutdown_grace: self.shutdown_grace.or(other.shutdown_grace),
        }
    }
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
pub const DEFAULT_USERS: &str = "cdrlake-users.toml";

/// Parses a size like `64MiB`, `2GiB`, `500MB` or a number of bytes.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size: use e.g. 512MiB or 2GiB"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "kib" => 1024.0,
        "m" | "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "g" | "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        other => return Err(format!("'{s}': unknown size unit '{other}'")),
    };
    Ok((n * mult) as usize)
}

fn duration(v: &Option<String>, default: Duration, what: &str) -> Result<Duration, String> {
    match v {
        Some(s) => users::parse_duration(s).map_err(|e| format!("{what}: {e}")),
        None => Ok(default),
    }
}

/// Runs the server until SIGTERM or Ctrl-C. `ready` receives the bound address (with
/// `--listen 127.0.0.1:0`, the port the system chose).
pub async fn serve(
    config: ServeConfig,
    engine: EngineOptions,
    ready: impl FnOnce(SocketAddr, bool),
) -> Result<(), String> {
    let store_location = config
        .store
        .clone()
        .unwrap_or_else(|| cdrlake_store::DEFAULT_STORE.to_string());
    let store = Store::open(&store_location).map_err(|e| e.to_string())?;
    let users_path = config
        .users
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_USERS));
    if !users_path.exists() {
        return Err(format!(
            "users file {} does not exist: create a user first with `cdrlake user add NAME --role admin --users {}`",
            users_path.display(),
            users_path.display()
        ));
    }
    let secret = match &config.token_secret {
        Some(s) if s.len() < 16 => {
            return Err("token secret: use at least 16 characters".into());
        }
        Some(s) => s.as_bytes().to_vec(),
        None => users::random_bytes(32),
    };
    let auth = auth::Auth::new(
        &users_path,
        auth::AuthConfig {
            lockout_attempts: config.lockout_attempts.unwrap_or(5),
            lockout_duration: duration(
                &config.lockout_duration,
                Duration::from_secs(1800),
                "lockout duration",
            )?,
            session_ttl: duration(
                &config.session_ttl,
                Duration::from_secs(12 * 3600),
                "session ttl",
            )?,
            secret,
        },
    )
    .map_err(|e| e.to_string())?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let limits = Limits {
        max_concurrent: config.max_concurrent_queries.unwrap_or(cores.max(2)),
        query_timeout: duration(
            &config.query_timeout,
            Duration::from_secs(600),
            "query timeout",
        )?,
        query_memory: match &config.query_memory {
            Some(s) => Some(parse_size(s).map_err(|e| format!("query memory: {e}"))?),
            None => None,
        },
        refresh: duration(&config.refresh, Duration::from_secs(5), "refresh")?,
    };
    let grace = duration(
        &config.shutdown_grace,
        Duration::from_secs(30),
        "shutdown grace",
    )?;
    let service = CdrlakeFlightSql::new(store, engine, auth, limits.clone())
        .await
        .map_err(|e| format!("opening the lake at {store_location}: {e}"))?;
    let refresh = service.refresh_in_background();
    // Two rustls crypto providers are linked (ring for tonic, aws-lc-rs for the S3 client):
    // name the one the server uses, or rustls cannot choose.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listen = config
        .listen
        .clone()
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| format!("listening on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let mut builder = Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .tcp_nodelay(true);
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => {
            let cert_pem = std::fs::read(cert)
                .map_err(|e| format!("TLS certificate {}: {e}", cert.display()))?;
            let key_pem =
                std::fs::read(key).map_err(|e| format!("TLS key {}: {e}", key.display()))?;
            builder = builder
                .tls_config(ServerTlsConfig::new().identity(Identity::from_pem(cert_pem, key_pem)))
                .map_err(|e| format!("TLS configuration: {e}"))?;
            true
        }
        (None, None) => false,
        _ => return Err("TLS needs both --tls-cert and --tls-key".into()),
    };
    tracing::info!(
        %addr, tls, users = %users_path.display(), store = %store_location,
        max_concurrent = limits.max_concurrent, query_timeout = ?limits.query_timeout,
        query_memory = ?limits.query_memory, "cdrlake Flight SQL server starting"
    );
    let stop = std::sync::Arc::new(tokio::sync::Notify::new());
    let signalled = {
        let stop = stop.clone();
        async move {
            shutdown_signal().await;
            tracing::info!("shutting down: no new calls; running ones get {grace:?} to finish");
            stop.notify_waiters();
        }
    };
    let server = builder
        .add_service(
            FlightServiceServer::new(service)
                .max_decoding_message_size(256 * 1024 * 1024)
                .max_encoding_message_size(256 * 1024 * 1024),
        )
        // The builder's tcp_nodelay applies only to listeners tonic binds itself: without it on
        // our listener's connections, Nagle's algorithm and delayed ACKs added about 40 ms to
        // every small query.
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
            signalled,
        );
    ready(addr, tls);
    let forced = async {
        stop.notified().await;
        tokio::time::sleep(grace).await;
    };
    tokio::select! {
        r = server => r.map_err(|e| format!("server: {e}"))?,
        _ = forced => tracing::warn!("calls still running after the grace period were cancelled"),
    }
    refresh.stop().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("64MiB"), Ok(64 * 1024 * 1024));
        assert_eq!(parse_size("2GB"), Ok(2_000_000_000));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("3 parsecs").is_err());
    }

    #[test]
    fn options_win_over_the_file() {
        let file: ServeConfig =
            toml::from_str("listen = \"0.0.0.0:1\"\nquery_timeout = \"1m\"\n").expect("toml");
        let cli = ServeConfig {
            listen: Some("127.0.0.1:2".into()),
            ..Default::default()
        };
        let merged = cli.or(file);
        assert_eq!(merged.listen.as_deref(), Some("127.0.0.1:2"));
        assert_eq!(merged.query_timeout.as_deref(), Some("1m"));
        assert!(
            toml::from_str::<ServeConfig>("listn = 1").is_err(),
            "typos are refused"
        );
    }
}
