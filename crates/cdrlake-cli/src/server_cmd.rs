//! `cdrlake serve` and `cdrlake user ...`.

use std::io::{BufRead, IsTerminal, Write};

use datafusion::arrow::array::Array as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use cdrlake_engine::EngineOptions;
use cdrlake_server::users::{self, Role, User, UsersFile};
use cdrlake_server::{DEFAULT_USERS, ServeConfig};
use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on; port 0 takes any free port (the first line printed says which).
    #[arg(long, env = "CDRLAKE_LISTEN")]
    listen: Option<String>,
    /// The users file (`cdrlake user add` creates it) [default: cdrlake-users.toml].
    #[arg(long, env = "CDRLAKE_USERS")]
    users: Option<PathBuf>,
    /// TLS certificate chain (PEM); with --tls-key, the server speaks TLS only.
    #[arg(long, env = "CDRLAKE_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, env = "CDRLAKE_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Settings from a TOML file (keys as these options, with '_': listen, users, tls_cert,
    /// query_timeout, ...). Options and environment variables win over the file.
    #[arg(long, env = "CDRLAKE_CONFIG")]
    config: Option<PathBuf>,
    /// Queries running at once; more wait for a slot [default: cores, at least 2].
    #[arg(long, env = "CDRLAKE_MAX_CONCURRENT_QUERIES")]
    max_concurrent_queries: Option<usize>,
    /// A query running longer fails with DEADLINE_EXCEEDED [default: 10m].
    #[arg(long, env = "CDRLAKE_QUERY_TIMEOUT")]
    query_timeout: Option<String>,
    /// Memory per query (e.g. 2GiB): sorts, joins and aggregates spill to disk first, and a
    /// query that still needs more fails alone with RESOURCE_EXHAUSTED [default: no limit].
    #[arg(long, env = "CDRLAKE_QUERY_MEMORY")]
    query_memory: Option<String>,
    /// Consecutive failed logins that lock an account [default: 5; 0 = never lock].
    #[arg(long, env = "CDRLAKE_LOCKOUT_ATTEMPTS")]
    lockout_attempts: Option<u32>,
    /// How long a locked account stays locked [default: 30m].
    #[arg(long, env = "CDRLAKE_LOCKOUT_DURATION")]
    lockout_duration: Option<String>,
    /// How long a session token from a login is valid [default: 12h].
    #[arg(long, env = "CDRLAKE_SESSION_TTL")]
    session_ttl: Option<String>,
    /// Key that signs session tokens (16+ characters). Servers sharing it accept each other's
    /// tokens [default: random per start, so a restart logs everyone out].
    #[arg(long, env = "CDRLAKE_TOKEN_SECRET", hide_env_values = true)]
    token_secret: Option<String>,
    /// How often new commits to the lake become visible [default: 5s].
    #[arg(long, env = "CDRLAKE_REFRESH")]
    refresh: Option<String>,
    /// On SIGTERM, how long running calls get to finish [default: 30s].
    #[arg(long, env = "CDRLAKE_SHUTDOWN_GRACE")]
    shutdown_grace: Option<String>,
}

pub async fn serve(store: &str, args: ServeArgs, engine: EngineOptions) -> Result<i32> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // cdrlake's own events; the libraries' (delta-rs logs every snapshot) only
                // from warnings up. RUST_LOG overrides.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new("warn,cdrlake_server=info,cdrlake=info")
                }),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
    let file = match &args.config {
        Some(path) => ServeConfig::from_file(path).map_err(anyhow::Error::msg)?,
        None => ServeConfig::default(),
    };
    // --store always has a value (its default); the file's store applies only when neither
    // the option nor CDRLAKE_STORE was given.
    let store =
        if store == cdrlake_store::DEFAULT_STORE && std::env::var_os("CDRLAKE_STORE").is_none() {
            file.store.clone().or(Some(store.to_string()))
        } else {
            Some(store.to_string())
        };
    let cli = ServeConfig {
        store,
        listen: args.listen,
        users: args.users,
        tls_cert: args.tls_cert,
        tls_key: args.tls_key,
        max_concurrent_queries: args.max_concurrent_queries,
        query_timeout: args.query_timeout,
        query_memory: args.query_memory,
        lockout_attempts: args.lockout_attempts,
        lockout_duration: args.lockout_duration,
        session_ttl: args.session_ttl,
        token_secret: args.token_secret,
        refresh: args.refresh,
        shutdown_grace: args.shutdown_grace,
    };
    let config = cli.or(file);
    cdrlake_server::serve(config, engine, |addr, tls| {
        let scheme = if tls { "grpc+tls" } else { "grpc" };
        println!("cdrlake serve: listening on {scheme}://{addr}");
        let _ = std::io::stdout().flush();
    })
    .await
    .map_err(anyhow::Error::msg)?;
    Ok(0)
}

#[derive(Args, Debug)]
pub struct UserArgs {
    /// The users file [default: cdrlake-users.toml].
    #[arg(long, env = "CDRLAKE_USERS", global = true)]
    users: Option<PathBuf>,
    #[command(subcommand)]
    command: UserCommand,
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Add a user. The password is read from stdin (--password-stdin) or CDRLAKE_PASSWORD.
    Add {
        name: String,
        /// admin (all tenants, system tables, ingest), tenant_admin (one tenant), team_admin
        /// (one tenant's listed teams) or member (no reporting access).
        #[arg(long)]
        role: String,
        /// The tenant (tenant_admin, team_admin, member).
        #[arg(long)]
        tenant: Option<String>,
        /// A team the team admin sees (repeat for several).
        #[arg(long = "team")]
        teams: Vec<String>,
        /// export, schedule or ingest (repeat for several; admins have all).
        #[arg(long = "permission")]
        permissions: Vec<String>,
        /// Read the password from the first line of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change a user's password (logs out their sessions).
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create an API token (printed once), or revoke one.
    Token {
        name: String,
        /// Validity, e.g. 30d or 12h [default: no expiry].
        #[arg(long)]
        expires: Option<String>,
        /// A note on what the token is for.
        #[arg(long, default_value = "")]
        label: String,
        /// Revoke the token with this id (or this token) instead.
        #[arg(long)]
        revoke: Option<String>,
    },
    /// Disable a user: no login, no token works (logs out their sessions).
    Disable { name: String },
    /// Enable a disabled user.
    Enable { name: String },
    /// Lift a lockout after failed logins.
    Unlock { name: String },
    /// List users (never secrets).
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

fn read_password(from_stdin: bool) -> Result<String> {
    if from_stdin {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            eprint!("password: ");
        }
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        let pw = line.trim_end_matches(['\r', '\n']).to_string();
        if pw.is_empty() {
            bail!("the password on stdin is empty");
        }
        return Ok(pw);
    }
    match std::env::var("CDRLAKE_PASSWORD") {
        Ok(pw) if !pw.is_empty() => Ok(pw),
        _ => bail!(
            "give the password on stdin with --password-stdin (e.g. `printf '%s\\n' \"$PW\" | cdrlake user add ...`) or in CDRLAKE_PASSWORD"
        ),
    }
}

pub fn user(args: UserArgs) -> Result<i32> {
    let path = args.users.unwrap_or_else(|| PathBuf::from(DEFAULT_USERS));
    let mut file = UsersFile::load(&path)?;
    match args.command {
        UserCommand::Add {
            name,
            role,
            tenant,
            teams,
            permissions,
            password_stdin,
        } => {
            let role = Role::parse(&role)?;
            let password = read_password(password_stdin)?;
            file.add(User {
                tenant,
                teams,
                permissions,
                ..User::new(&name, role, users::hash_password(&password)?)
            })?;
            file.save(&path)?;
            eprintln!("added {role} {name} to {}", path.display());
        }
        UserCommand::Passwd {
            name,
            password_stdin,
        } => {
            let password = read_password(password_stdin)?;
            let u = file.get_mut(&name)?;
            u.password_hash = users::hash_password(&password)?;
            u.session_epoch += 1;
            file.save(&path)?;
            eprintln!("changed the password of {name}; their sessions must log in again");
        }
        UserCommand::Token {
            name,
            expires,
            label,
            revoke,
        } => {
            if let Some(id) = revoke {
                let id = file.revoke_token(&name, &id)?;
                file.save(&path)?;
                eprintln!("revoked token {id} of {name}");
            } else {
                let expires = match expires {
                    Some(e) => Some(users::parse_duration(&e).map_err(anyhow::Error::msg)?),
                    None => None,
                };
                let (token, id) = file.new_token(&name, &label, expires)?;
                file.save(&path)?;
                println!("{token}");
                eprintln!("token {id} for {name}: shown once, store it now");
            }
        }
        UserCommand::Disable { name } => {
            let u = file.get_mut(&name)?;
            u.disabled = true;
            u.session_epoch += 1;
            file.save(&path)?;
            eprintln!("disabled {name}");
        }
        UserCommand::Enable { name } => {
            file.get_mut(&name)?.disabled = false;
            file.save(&path)?;
            eprintln!("enabled {name}");
        }
        UserCommand::Unlock { name } => {
            let u = file.get_mut(&name)?;
            u.locked_at = None;
            u.locked_until = None;
            u.failed_logins = 0;
            file.save(&path)?;
            eprintln!("unlocked {name}");
        }
        UserCommand::List { json } => {
            let now = users::now();
            for u in &file.users {
                let locked = u.locked(now).map(users::format_time);
                if json {
                    let tokens: Vec<_> = u
                        .tokens
                        .iter()
                        .map(|t| {
                            serde_json::json!({
                                "id": t.id, "label": t.label, "created": t.created,
                                "expires": t.expires, "revoked": t.revoked,
                            })
                        })
                        .collect();
                    println!(
                        "{}",
                        serde_json::json!({
                            "name": u.name, "role": u.role.as_str(), "tenant": u.tenant,
                            "teams": u.teams, "permissions": u.permissions,
                            "disabled": u.disabled, "failed_logins": u.failed_logins,
                            "locked_at": locked.as_ref().and(u.locked_at.clone()),
                            "locked_until": locked, "tokens": tokens,
                        })
                    );
                } else {
                    let mut line = format!(
                        "{:<20} {:<12} tenant={:<16} teams={}",
                        u.name,
                        u.role.as_str(),
                        u.tenant.as_deref().unwrap_or("*"),
                        if u.teams.is_empty() {
                            "*".into()
                        } else {
                            u.teams.join(",")
                        }
                    );
                    if !u.permissions.is_empty() {
                        line.push_str(&format!(" permissions={}", u.permissions.join(",")));
                    }
                    if u.disabled {
                        line.push_str(" DISABLED");
                    }
                    if let Some(l) = &locked {
                        line.push_str(&format!(" LOCKED until {l}"));
                    }
                    let live = u.tokens.iter().filter(|t| !t.revoked).count();
                    if live > 0 {
                        line.push_str(&format!(" tokens={live}"));
                    }
                    println!("{line}");
                }
            }
        }
    }
    Ok(0)
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Stop after the examples instead of serving the lake.
    #[arg(long)]
    pub no_serve: bool,
    /// Where the demo server listens.
    #[arg(long, default_value = cdrlake_server::DEFAULT_LISTEN)]
    pub listen: String,
    /// The demo users file (created with three demo users if absent).
    #[arg(long, default_value = "cdrlake-demo-users.toml")]
    pub users: PathBuf,
}

/// The demo's users: (name, password, role, what they see).
const DEMO_USERS: &[(&str, &str, &str)] = &[
    ("demo_admin", "demo-admin-pw", "admin"),
    ("demo_tenant", "demo-tenant-pw", "tenant_admin"),
    ("demo_team", "demo-team-pw", "team_admin"),
];

/// Creates the demo users (for the lake's first tenant and its first team) if absent, prints
/// how to connect, and serves until Ctrl-C.
pub async fn demo_serve(store: &str, args: DemoArgs, engine: EngineOptions) -> Result<i32> {
    let s = cdrlake_store::Store::open(store)?;
    let ctx = cdrlake_engine::open(&s, &engine).await?;
    let rows = ctx
        .sql("SELECT tenant_id, min(team_id) AS team_id FROM teams GROUP BY tenant_id ORDER BY tenant_id LIMIT 1")
        .await?
        .collect()
        .await?;
    let text = |c: usize| -> Option<String> {
        let b = rows.first()?;
        let col = datafusion::arrow::compute::cast(
            b.column(c),
            &datafusion::arrow::datatypes::DataType::Utf8,
        )
        .ok()?;
        let col = col
            .as_any()
            .downcast_ref::<datafusion::arrow::array::StringArray>()?;
        (col.len() > 0 && col.is_valid(0)).then(|| col.value(0).to_string())
    };
    let (Some(tenant), Some(team)) = (text(0), text(1)) else {
        bail!("the demo lake has no teams to make demo users for");
    };
    let mut file = UsersFile::load(&args.users)?;
    for (name, password, role) in DEMO_USERS {
        if file.get(name).is_some() {
            continue;
        }
        let role = Role::parse(role)?;
        file.add(User {
            tenant: (role != Role::Admin).then(|| tenant.clone()),
            teams: if role == Role::TeamAdmin {
                vec![team.clone()]
            } else {
                vec![]
            },
            ..User::new(name, role, users::hash_password(password)?)
        })?;
    }
    file.save(&args.users)?;
    let (host, port) = args
        .listen
        .rsplit_once(':')
        .unwrap_or((&args.listen, "50051"));
    println!(
        "\n-- Serving the lake over Arrow Flight SQL on grpc://{} (Ctrl-C stops)",
        args.listen
    );
    println!(
        "Demo users ({}; demo passwords, for this machine only):",
        args.users.display()
    );
    for (name, password, role) in DEMO_USERS {
        let sees = match *role {
            "admin" => "every tenant, system tables, ingest".to_string(),
            "tenant_admin" => format!("tenant {tenant} only"),
            _ => format!("tenant {tenant}, team {team} only"),
        };
        println!("  {name:<12} password {password:<16} {role:<13} sees {sees}");
    }
    println!(
        "\nPython (pip install adbc-driver-flightsql pyarrow):
  import adbc_driver_flightsql.dbapi as flight_sql
  conn = flight_sql.connect(\"grpc://{host}:{port}\", db_kwargs={{\"username\": \"demo_tenant\", \"password\": \"demo-tenant-pw\"}})
  cur = conn.cursor()
  cur.execute(\"SELECT * FROM reports.end_reasons(now() - INTERVAL '7 days', now())\")
  print(cur.fetch_arrow_table())

JDBC (Arrow Flight SQL JDBC driver; DBeaver, DataGrip, Tableau):
  jdbc:arrow-flight-sql://{host}:{port}?useEncryption=false&user=demo_tenant&password=demo-tenant-pw

Your own users: cdrlake user add NAME --role tenant_admin --tenant T --password-stdin --users FILE
then: cdrlake serve --users FILE   (docs/server.md)"
    );
    let config = ServeConfig {
        store: Some(store.to_string()),
        listen: Some(args.listen.clone()),
        users: Some(args.users.clone()),
        ..ServeConfig::default()
    };
    cdrlake_server::serve(config, engine, |addr, _| {
        println!("\ncdrlake serve: listening on grpc://{addr}");
        let _ = std::io::stdout().flush();
    })
    .await
    .map_err(anyhow::Error::msg)?;
    Ok(0)
}
