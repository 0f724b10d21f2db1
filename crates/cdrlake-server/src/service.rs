//! The Flight SQL service.
//!
//! Stateless tickets: GetFlightInfo plans a statement to learn its schema and hands out a
//! ticket carrying the SQL (and bound parameters); DoGet authenticates again and streams. Any
//! server over the same store and users file (sharing `--token-secret`) can answer any ticket,
//! and nothing in a ticket or handle decides what the caller may see: the scope comes from the
//! bearer token alone. To save planning twice, the server that issued a ticket keeps its plan
//! for a minute and DoGet takes it, but only for the same principal (user, role, tenant,
//! teams, permissions as the users file says at DoGet) and the same SQL and parameters;
//! otherwise DoGet plans again in the caller's own scope.

use std::collections::{HashMap, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::sql::metadata::{GetCatalogsBuilder, GetDbSchemasBuilder, GetTablesBuilder};
use arrow_flight::sql::server::{FlightSqlService, PeekableFlightDataStream};
use arrow_flight::sql::{
    ActionCancelQueryRequest, ActionCancelQueryResult, ActionClosePreparedStatementRequest,
    ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult, Any,
    CommandGetCatalogs, CommandGetCrossReference, CommandGetDbSchemas, CommandGetExportedKeys,
    CommandGetImportedKeys, CommandGetPrimaryKeys, CommandGetSqlInfo, CommandGetTableTypes,
    CommandGetTables, CommandGetXdbcTypeInfo, CommandPreparedStatementQuery,
    CommandPreparedStatementUpdate, CommandStatementIngest, CommandStatementQuery,
    CommandStatementUpdate, DoPutPreparedStatementResult, ProstMessageExt, SqlInfo,
    TableExistsOption, TableNotExistOption, TicketStatementQuery,
};
use arrow_flight::{
    FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, IpcMessage,
    SchemaAsIpc, Ticket, flight_service_server::FlightService,
};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use cdrlake_engine::{EngineOptions, Lake, Scope};
use cdrlake_store::Store;
use datafusion::arrow::array::{
    ArrayRef, Int64Array, RecordBatch, RecordBatchOptions, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::arrow::ipc::writer::IpcWriteOptions;
use datafusion::catalog::SchemaProvider;
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::datasource::{MemTable, TableType};
use datafusion::execution::context::SQLOptions;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use futures::{Stream, StreamExt, TryStreamExt};
use object_store::ObjectStoreExt as _;
use prost::Message;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, RwLock, Semaphore};
use tonic::metadata::MetadataValue;
use tonic::{Request, Response, Status, Streaming};

use crate::auth::{Auth, AuthError, Principal};
use crate::metadata::{SQL_INFO, XDBC_TYPES, wire_schema};
use crate::users::{Role, sha256_hex};

type DoGetStream = Pin<Box<dyn Stream<Item = Result<arrow_flight::FlightData, Status>> + Send>>;
type HandshakeStream = Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>;

/// Resource limits of query execution.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Queries running at once; others wait for a slot.
    pub max_concurrent: usize,
    /// A query running longer is stopped with DEADLINE_EXCEEDED (a shorter `grpc-timeout`
    /// from the client wins).
    pub query_timeout: Duration,
    /// Memory one query may hold (sorts, joins and aggregates spill to disk first); a query
    /// that needs more fails with RESOURCE_EXHAUSTED. `None`: no limit.
    pub query_memory: Option<usize>,
    /// How often the lake snapshot is refreshed (new commits become visible).
    pub refresh: Duration,
}

/// One logged-in session, for `system.sessions`.
#[derive(Debug, Clone)]
struct SessionRow {
    user: String,
    role: Role,
    tenant: Option<String>,
    started: chrono::DateTime<chrono::Utc>,
    last_seen: chrono::DateTime<chrono::Utc>,
    calls: i64,
}

/// One finished or running query, for `system.queries`.
#[derive(Debug, Clone)]
struct QueryRow {
    id: String,
    user: String,
    tenant: Option<String>,
    sql: String,
    started: chrono::DateTime<chrono::Utc>,
    seconds: Option<f64>,
    rows: i64,
    status: String,
}

const RECENT_QUERIES: usize = 1000;

/// Schema `system` of an administrator's session: its tables are built when a query names
/// them, from the server's current state.
struct SystemSchema {
    service: std::sync::Weak<Inner>,
    report_catalog: Option<Arc<dyn datafusion::catalog::TableProvider>>,
}

const SYSTEM_TABLES: &[&str] = &["locked_accounts", "queries", "report_catalog", "sessions"];

impl std::fmt::Debug for SystemSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SystemSchema")
    }
}

#[async_trait::async_trait]
impl SchemaProvider for SystemSchema {
    fn table_names(&self) -> Vec<String> {
        SYSTEM_TABLES.iter().map(|t| t.to_string()).collect()
    }

    async fn table(
        &self,
        name: &str,
    ) -> datafusion::error::Result<Option<Arc<dyn datafusion::catalog::TableProvider>>> {
        if name == "report_catalog" {
            return Ok(self.report_catalog.clone());
        }
        let Some(inner) = self.service.upgrade() else {
            return Ok(None);
        };
        let service = CdrlakeFlightSql { inner };
        match service.system_table(name) {
            Ok(t) => Ok(t.map(|t| t as Arc<dyn datafusion::catalog::TableProvider>)),
            Err(status) => Err(DataFusionError::Execution(format!(
                "system.{name}: {}",
                status.message()
            ))),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        SYSTEM_TABLES.contains(&name)
    }
}

/// The runtime queries execute on, apart from the one serving gRPC, so a heavy query never
/// delays handshakes, metadata calls or the streaming of other results.
struct QueryRuntime(Option<tokio::runtime::Runtime>);

impl QueryRuntime {
    fn handle(&self) -> Option<&tokio::runtime::Handle> {
        self.0.as_ref().map(|r| r.handle())
    }
}

impl Drop for QueryRuntime {
    fn drop(&mut self) {
        // Dropped from async code when the server stops: don't block there.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

pub struct Inner {
    store: Store,
    query_rt: QueryRuntime,
    lake: RwLock<Arc<Lake>>,
    auth: Auth,
    limits: Limits,
    slots: Arc<Semaphore>,
    sessions: Mutex<HashMap<String, SessionRow>>,
    queries: Mutex<VecDeque<QueryRow>>,
    running: Mutex<HashMap<String, Arc<Notify>>>,
    /// Plans made by GetFlightInfo, by handle id, for DoGet to take (see the module doc).
    planned: Mutex<HashMap<String, Planned>>,
}

/// A statement planned by GetFlightInfo: who planned it, what, and the session it was planned in.
struct Planned {
    principal: Principal,
    sql: String,
    params: Option<String>,
    ctx: SessionContext,
    plan: LogicalPlan,
    at: Instant,
}

/// How long, and how many, plans wait for their DoGet.
const PLANNED_TTL: Duration = Duration::from_secs(60);
const PLANNED_MAX: usize = 256;

/// The Flight SQL service (cheap to clone: every clone shares one state).
#[derive(Clone)]
pub struct CdrlakeFlightSql {
    inner: Arc<Inner>,
}

/// What a ticket or a prepared-statement handle carries: the SQL and bound parameters. It
/// grants nothing: whoever presents it is authenticated and scoped again.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Handle {
    /// Query id (for CancelQuery and `system.queries`).
    id: String,
    sql: String,
    /// Bound parameters: one row, Arrow IPC stream, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    params: Option<String>,
}

impl Handle {
    fn new(sql: String, params: Option<String>) -> Handle {
        Handle {
            id: URL_SAFE_NO_PAD.encode(crate::users::random_bytes(9)),
            sql,
            params,
        }
    }

    fn encode(&self) -> Result<bytes::Bytes, Status> {
        serde_json::to_vec(self)
            .map(Into::into)
            .map_err(|e| Status::internal(format!("encoding a handle: {e}")))
    }

    fn decode(b: &[u8]) -> Result<Handle, Status> {
        serde_json::from_slice(b)
            .map_err(|e| Status::invalid_argument(format!("not a cdrlake statement handle: {e}")))
    }
}

impl CdrlakeFlightSql {
    pub async fn new(
        store: Store,
        engine: EngineOptions,
        auth: Auth,
        limits: Limits,
    ) -> Result<CdrlakeFlightSql, cdrlake_engine::EngineError> {
        let lake = Lake::load(&store, &engine).await?;
        let slots = Arc::new(Semaphore::new(limits.max_concurrent.max(1)));
        let workers = match engine.target_partitions {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let query_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("cdrlake-query")
            .enable_all()
            .build()
            .map_err(|e| cdrlake_engine::EngineError::Reference(format!("query runtime: {e}")))?;
        Ok(CdrlakeFlightSql {
            inner: Arc::new(Inner {
                store,
                query_rt: QueryRuntime(Some(query_rt)),
                lake: RwLock::new(Arc::new(lake)),
                auth,
                limits,
                slots,
                sessions: Mutex::new(HashMap::new()),
                queries: Mutex::new(VecDeque::new()),
                running: Mutex::new(HashMap::new()),
                planned: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// The current lake snapshot. A background task ([`Self::refresh_in_background`]) loads
    /// the next one, so no query waits for a reload.
    async fn lake(&self) -> Result<Arc<Lake>, Status> {
        Ok(Arc::clone(&*self.inner.lake.read().await))
    }

    /// Loads a new snapshot (new commits) and swaps it in; on failure the last good one stays.
    async fn reload(&self) -> Result<Arc<Lake>, Status> {
        let current = self.lake().await?;
        match current.reload(&self.inner.store).await {
            Ok(lake) => {
                let lake = Arc::new(lake);
                *self.inner.lake.write().await = Arc::clone(&lake);
                Ok(lake)
            }
            Err(e) => {
                tracing::error!("refreshing the lake failed, serving the previous snapshot: {e}");
                self.lake().await
            }
        }
    }

    /// Reloads the lake every `refresh` interval until the service is dropped.
    pub fn refresh_in_background(&self) -> RefreshTask {
        let weak = Arc::downgrade(&self.inner);
        let every = self.inner.limits.refresh;
        let store = self.inner.store.clone();
        let stop = Arc::new(tokio::sync::Notify::new());
        let stopped = stop.clone();
        let handle = tokio::spawn(async move {
            // Reload only when a table has a new commit: listing the commit logs is cheap,
            // loading every table's snapshot is not.
            // Unknown at first: a commit may have landed while the first snapshot loaded.
            let mut seen: Option<Vec<String>> = None;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stopped.notified() => break,
                }
                let Some(inner) = weak.upgrade() else {
                    break;
                };
                let now = Lake::fingerprint(&store).await.ok();
                if now.is_some() && now == seen {
                    continue;
                }
                let this = CdrlakeFlightSql { inner };
                if this.reload().await.is_ok() {
                    seen = now;
                }
            }
        });
        RefreshTask { stop, handle }
    }

    /// Authenticates a call: `authorization: Bearer <token>` (a session token from the handshake
    /// or an API token).
    async fn principal<T>(&self, req: &Request<T>) -> Result<Principal, Status> {
        let header = req
            .metadata()
            .get("authorization")
            .ok_or_else(|| {
                Status::unauthenticated(
                    "no authorization header: log in with the Flight handshake (Basic) and send the bearer token",
                )
            })?
            .to_str()
            .map_err(|_| Status::unauthenticated("the authorization header is not text"))?
            .to_string();
        let (scheme, value) = header.split_once(' ').ok_or_else(|| {
            Status::unauthenticated("authorization header: expected 'Bearer <token>'")
        })?;
        let principal = if scheme.eq_ignore_ascii_case("bearer") {
            let auth = self.clone();
            let token = value.trim().to_string();
            let p = tokio::task::spawn_blocking(move || auth.inner.auth.check_bearer(&token))
                .await
                .map_err(|e| Status::internal(format!("authentication task: {e}")))?
                .map_err(auth_status)?;
            self.seen(value.trim(), &p);
            p
        } else if scheme.eq_ignore_ascii_case("basic") {
            return Err(Status::unauthenticated(
                "Basic credentials are for the Flight handshake only: send its bearer token on every other call",
            ));
        } else {
            return Err(Status::unauthenticated(format!(
                "authorization scheme '{scheme}' is not supported: use Basic (handshake) or Bearer"
            )));
        };
        Ok(principal)
    }

    async fn login(&self, basic: &str) -> Result<(Principal, String), Status> {
        // Go clients (ADBC) send base64 without padding; pyarrow pads.
        let decoded = STANDARD
            .decode(basic)
            .or_else(|_| {
                base64::engine::general_purpose::STANDARD_NO_PAD.decode(basic.trim_end_matches('='))
            })
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                Status::unauthenticated("Basic credentials are not base64 of user:password")
            })?;
        let (user, secret) = decoded
            .split_once(':')
            .ok_or_else(|| Status::unauthenticated("Basic credentials are not user:password"))?;
        let (user, secret) = (user.to_string(), secret.to_string());
        let auth = self.clone();
        tokio::task::spawn_blocking(move || auth.inner.auth.login(&user, &secret))
            .await
            .map_err(|e| Status::internal(format!("login task: {e}")))?
            .map_err(auth_status)
    }

    fn seen(&self, token: &str, p: &Principal) {
        let key = sha256_hex(token.as_bytes())[..16].to_string();
        let now = chrono::Utc::now();
        if let Ok(mut s) = self.inner.sessions.lock() {
            let row = s.entry(key).or_insert_with(|| SessionRow {
                user: p.user.clone(),
                role: p.role,
                tenant: p.tenant.clone(),
                started: now,
                last_seen: now,
                calls: 0,
            });
            row.last_seen = now;
            row.calls += 1;
            // Forget sessions idle for a day.
            if s.len() > 1000 {
                s.retain(|_, r| (now - r.last_seen).num_hours() < 24);
            }
        }
    }

    fn scope(p: &Principal) -> Result<Scope, Status> {
        match p.role {
            Role::Admin => Ok(Scope::All),
            Role::TenantAdmin => Ok(Scope::tenant(p.tenant.clone().unwrap_or_default())),
            Role::TeamAdmin => Ok(Scope::teams(
                p.tenant.clone().unwrap_or_default(),
                p.teams.clone(),
            )),
            Role::Member => Err(Status::permission_denied(format!(
                "user {} is a team member: team members have no reporting access",
                p.user
            ))),
        }
    }

    /// A session for one query of `p`: their scope, a memory pool of its own, and for
    /// administrators the `system` schema.
    async fn session(&self, p: &Principal) -> Result<SessionContext, Status> {
        let scope = Self::scope(p)?;
        let lake = self.lake().await?;
        let mut runtime = RuntimeEnvBuilder::from_runtime_env(lake.runtime());
        if let Some(limit) = self.inner.limits.query_memory {
            runtime = runtime.with_memory_pool(Arc::new(FairSpillPool::new(limit)));
        }
        let runtime = runtime.build_arc().map_err(df_status)?;
        let ctx = lake
            .session(&scope, Some(runtime))
            .map_err(|e| Status::internal(e.to_string()))?;
        if p.is_admin() {
            self.register_system(&ctx).await?;
        }
        Ok(ctx)
    }

    async fn register_system(&self, ctx: &SessionContext) -> Result<(), Status> {
        let report_catalog = ctx.table_provider("reports.catalog").await.ok();
        let schema = SystemSchema {
            service: Arc::downgrade(&self.inner),
            report_catalog,
        };
        if let Some(cat) = ctx.catalog(cdrlake_engine::CATALOG) {
            cat.register_schema("system", Arc::new(schema))
                .map_err(df_status)?;
        }
        Ok(())
    }

    /// One `system` table, built from the server's state when a query names it (not for
    /// every query of an administrator).
    fn system_table(&self, name: &str) -> Result<Option<Arc<MemTable>>, Status> {
        let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let micros = |t: &chrono::DateTime<chrono::Utc>| t.timestamp_micros();
        let table = |fields: Vec<Field>, columns: Vec<ArrayRef>| -> Result<Arc<MemTable>, Status> {
            let s = Arc::new(Schema::new(fields));
            let n = columns.first().map(|c| c.len()).unwrap_or(0);
            let batch = RecordBatch::try_new_with_options(
                Arc::clone(&s),
                columns,
                &RecordBatchOptions::new().with_row_count(Some(n)),
            )
            .map_err(|e| Status::internal(e.to_string()))?;
            MemTable::try_new(s, vec![vec![batch]])
                .map(Arc::new)
                .map_err(df_status)
        };
        match name {
            "sessions" => {
                let sessions: Vec<(String, SessionRow)> = self
                    .inner
                    .sessions
                    .lock()
                    .map(|s| s.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default();
                let t = table(
                    vec![
                        Field::new("session_id", DataType::Utf8, false),
                        Field::new("user_name", DataType::Utf8, false),
                        Field::new("role", DataType::Utf8, false),
                        Field::new("tenant_id", DataType::Utf8, true),
                        Field::new("started", ts(), false),
                        Field::new("last_seen", ts(), false),
                        Field::new("calls", DataType::Int64, false),
                    ],
                    vec![
                        Arc::new(StringArray::from_iter_values(
                            sessions.iter().map(|(k, _)| k),
                        )),
                        Arc::new(StringArray::from_iter_values(
                            sessions.iter().map(|(_, r)| &r.user),
                        )),
                        Arc::new(StringArray::from_iter_values(
                            sessions.iter().map(|(_, r)| r.role.as_str()),
                        )),
                        Arc::new(StringArray::from_iter(
                            sessions.iter().map(|(_, r)| r.tenant.clone()),
                        )),
                        Arc::new(
                            TimestampMicrosecondArray::from_iter_values(
                                sessions.iter().map(|(_, r)| micros(&r.started)),
                            )
                            .with_timezone("UTC"),
                        ),
                        Arc::new(
                            TimestampMicrosecondArray::from_iter_values(
                                sessions.iter().map(|(_, r)| micros(&r.last_seen)),
                            )
                            .with_timezone("UTC"),
                        ),
                        Arc::new(Int64Array::from_iter_values(
                            sessions.iter().map(|(_, r)| r.calls),
                        )),
                    ],
                )?;
                Ok(Some(t))
            }
            "locked_accounts" => {
                let locked = self.inner.auth.locked_accounts().map_err(auth_status)?;
                let parse = |s: &str| crate::users::parse_time(s).map(|t| t.timestamp_micros());
                let t = table(
                    vec![
                        Field::new("user_name", DataType::Utf8, false),
                        Field::new("locked_at", ts(), true),
                        Field::new("locked_until", ts(), true),
                    ],
                    vec![
                        Arc::new(StringArray::from_iter_values(locked.iter().map(|l| &l.0))),
                        Arc::new(
                            TimestampMicrosecondArray::from_iter(
                                locked.iter().map(|l| parse(&l.1)),
                            )
                            .with_timezone("UTC"),
                        ),
                        Arc::new(
                            TimestampMicrosecondArray::from_iter(
                                locked.iter().map(|l| parse(&l.2)),
                            )
                            .with_timezone("UTC"),
                        ),
                    ],
                )?;
                Ok(Some(t))
            }
            "queries" => {
                let queries: Vec<QueryRow> = self
                    .inner
                    .queries
                    .lock()
                    .map(|q| q.iter().cloned().collect())
                    .unwrap_or_default();
                let t = table(
                    vec![
                        Field::new("query_id", DataType::Utf8, false),
                        Field::new("user_name", DataType::Utf8, false),
                        Field::new("tenant_id", DataType::Utf8, true),
                        Field::new("sql", DataType::Utf8, false),
                        Field::new("started", ts(), false),
                        Field::new("seconds", DataType::Float64, true),
                        Field::new("rows", DataType::Int64, false),
                        Field::new("status", DataType::Utf8, false),
                    ],
                    vec![
                        Arc::new(StringArray::from_iter_values(queries.iter().map(|q| &q.id))),
                        Arc::new(StringArray::from_iter_values(
                            queries.iter().map(|q| &q.user),
                        )),
                        Arc::new(StringArray::from_iter(
                            queries.iter().map(|q| q.tenant.clone()),
                        )),
                        Arc::new(StringArray::from_iter_values(
                            queries.iter().map(|q| &q.sql),
                        )),
                        Arc::new(
                            TimestampMicrosecondArray::from_iter_values(
                                queries.iter().map(|q| micros(&q.started)),
                            )
                            .with_timezone("UTC"),
                        ),
                        Arc::new(datafusion::arrow::array::Float64Array::from_iter(
                            queries.iter().map(|q| q.seconds),
                        )),
                        Arc::new(Int64Array::from_iter_values(queries.iter().map(|q| q.rows))),
                        Arc::new(StringArray::from_iter_values(
                            queries.iter().map(|q| &q.status),
                        )),
                    ],
                )?;
                Ok(Some(t))
            }
            _ => Ok(None),
        }
    }

    /// Plans `sql` for `p` (with parameters bound), refusing what their role may not run.
    async fn plan(
        &self,
        p: &Principal,
        sql: &str,
        params: Option<&str>,
    ) -> Result<(SessionContext, LogicalPlan), Status> {
        let ctx = self.session(p).await?;
        let sql = placeholders_to_dollars(sql);
        let plan = cdrlake_engine::plan_sql(&ctx, &sql)
            .await
            .map_err(df_status)?;
        if !p.is_admin() {
            SQLOptions::new()
                .with_allow_ddl(false)
                .with_allow_dml(false)
                .with_allow_statements(false)
                .verify_plan(&plan)
                .map_err(|e| {
                    Status::permission_denied(format!(
                        "user {} ({}) may only read: {}",
                        p.user,
                        p.role,
                        e.strip_backtrace()
                    ))
                })?;
            // EXPLAIN ANALYZE prints scan metrics (rows pruned by statistics, bloom filters,
            // pages) that count rows outside the scope.
            // EXPLAIN VERBOSE prints file statistics (min/max of tenant_id over files shared by
            // tenants).
            let verbose = matches!(&plan, LogicalPlan::Explain(e) if e.verbose);
            if verbose || matches!(plan, LogicalPlan::Analyze(_)) {
                return Err(Status::permission_denied(format!(
                    "user {} ({}) may not run EXPLAIN ANALYZE or EXPLAIN VERBOSE: their scan metrics and file statistics describe other tenants' rows; plain EXPLAIN is allowed",
                    p.user, p.role
                )));
            }
        }
        let plan = match params {
            Some(p) => {
                let values = decode_params(p)?;
                plan.with_param_values(values).map_err(df_status)?
            }
            None => plan,
        };
        Ok((ctx, plan))
    }

    /// GetFlightInfo of a metadata command: authenticated, answered with `schema` and a ticket
    /// that is the command itself.
    async fn metadata_info(
        &self,
        command: Any,
        schema: &Schema,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.principal(&request).await?;
        let ticket = Ticket::new(command.encode_to_vec());
        self.flight_info(schema, ticket, request.into_inner())
    }

    fn flight_info(
        &self,
        schema: &Schema,
        ticket: Ticket,
        descriptor: FlightDescriptor,
    ) -> Result<Response<FlightInfo>, Status> {
        let info = FlightInfo::new()
            .try_with_schema(schema)
            .map_err(|e| Status::internal(format!("encoding the schema: {e}")))?
            .with_endpoint(FlightEndpoint::new().with_ticket(ticket))
            .with_descriptor(descriptor)
            .with_total_records(-1)
            .with_total_bytes(-1)
            .with_ordered(false);
        Ok(Response::new(info))
    }

    /// Plans, then streams the result of a handle: the query runs in its own task (cancelled
    /// when the client goes away, on CancelQuery, or at its deadline).
    async fn run<T>(
        &self,
        req: &Request<T>,
        handle: Handle,
    ) -> Result<Response<DoGetStream>, Status> {
        let p = self.principal(req).await?;
        let deadline = Instant::now() + self.timeout(req);
        let slot = tokio::time::timeout_at(
            deadline.into(),
            Arc::clone(&self.inner.slots).acquire_owned(),
        )
        .await
        .map_err(|_| {
            Status::deadline_exceeded("the query waited for a free slot until its deadline")
        })?
        .map_err(|_| Status::unavailable("the server is shutting down"))?;
        let (ctx, plan) = match self.take_planned(&p, &handle) {
            Some(planned) => planned,
            None => self.plan(&p, &handle.sql, handle.params.as_deref()).await?,
        };
        let df = ctx.execute_logical_plan(plan).await.map_err(df_status)?;
        let wire = wire_schema(df.schema().as_arrow());
        let cancel = Arc::new(Notify::new());
        if let Ok(mut r) = self.inner.running.lock() {
            r.insert(handle.id.clone(), Arc::clone(&cancel));
        }
        let started = chrono::Utc::now();
        let row = QueryRow {
            id: handle.id.clone(),
            user: p.user.clone(),
            tenant: p.tenant.clone(),
            sql: handle.sql.clone(),
            started,
            seconds: None,
            rows: 0,
            status: "running".into(),
        };
        self.record(row.clone());
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<RecordBatch, FlightError>>(2);
        let this = self.clone();
        let schema = Arc::clone(&wire);
        // The query executes on the query runtime and hands its batches over a channel; this
        // side (on the gRPC runtime) watches the client, CancelQuery and the deadline, so it
        // answers at once even while the query runtime's threads are busy in a long operator.
        let (btx, mut brx) =
            tokio::sync::mpsc::channel::<datafusion::error::Result<RecordBatch>>(2);
        let producer = async move {
            match df.execute_stream().await {
                Err(e) => {
                    let _ = btx.send(Err(e)).await;
                }
                Ok(mut stream) => {
                    while let Some(b) = stream.next().await {
                        if btx.send(b).await.is_err() {
                            break;
                        }
                    }
                }
            }
        };
        let producer = match self.inner.query_rt.handle() {
            Some(rt) => rt.spawn(producer),
            None => tokio::spawn(producer),
        };
        tokio::spawn(async move {
            let t0 = Instant::now();
            let mut rows = 0i64;
            let status = loop {
                let next = tokio::select! {
                    // The client went away (disconnected, or its call was cancelled): stop at
                    // once, even if the query has not produced a batch yet.
                    _ = tx.closed() => break "client went away".to_string(),
                    _ = cancel.notified() => Err(Status::cancelled("the query was cancelled")),
                    _ = tokio::time::sleep_until(deadline.into()) => Err(Status::deadline_exceeded(
                        "the query ran past its timeout (server --query-timeout or the client's deadline)")),
                    b = brx.recv() => match b {
                        None => break "ok".to_string(),
                        Some(Ok(b)) => to_wire(&b, &schema).map_err(|e| Status::internal(e.to_string())),
                        Some(Err(e)) => Err(df_status(e)),
                    },
                };
                match next {
                    Ok(b) => {
                        rows += b.num_rows() as i64;
                        if tx.send(Ok(b)).await.is_err() {
                            break "client went away".to_string();
                        }
                    }
                    Err(s) => {
                        let text = status_text(&s);
                        let _ = tx.send(Err(FlightError::Tonic(Box::new(s)))).await;
                        break text;
                    }
                }
            };
            // Stops the query at its next yield point (dropping its streams cancels its tasks);
            // its slot is free once it has really stopped.
            producer.abort();
            let _ = producer.await;
            drop(slot);
            if let Ok(mut r) = this.inner.running.lock() {
                r.remove(&row.id);
            }
            this.record(QueryRow {
                seconds: Some(t0.elapsed().as_secs_f64()),
                rows,
                status,
                ..row
            });
        });
        let batches = tokio_stream::wrappers::ReceiverStream::new(rx);
        let stream = FlightDataEncoderBuilder::new()
            .with_schema(wire)
            .build(batches)
            .map_err(Status::from);
        Ok(Response::new(Box::pin(stream)))
    }

    fn record(&self, row: QueryRow) {
        if let Ok(mut q) = self.inner.queries.lock() {
            if let Some(existing) = q.iter_mut().find(|r| r.id == row.id) {
                *existing = row;
                return;
            }
            if q.len() >= RECENT_QUERIES {
                q.pop_front();
            }
            q.push_back(row);
        }
    }

    /// The query timeout: the server's, or the client's `grpc-timeout` if shorter.
    fn timeout<T>(&self, req: &Request<T>) -> Duration {
        let server = self.inner.limits.query_timeout;
        req.metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout)
            .map_or(server, |c| c.min(server))
    }

    /// Plans a ticket's statement for `p` and keeps the plan for its DoGet; the wire schema.
    async fn plan_for_ticket(&self, p: &Principal, handle: &Handle) -> Result<SchemaRef, Status> {
        let (ctx, plan) = self.plan(p, &handle.sql, handle.params.as_deref()).await?;
        let schema = wire_schema(plan.schema().as_arrow());
        if let Ok(mut m) = self.inner.planned.lock() {
            let now = Instant::now();
            m.retain(|_, v| now.duration_since(v.at) < PLANNED_TTL);
            if m.len() >= PLANNED_MAX {
                // Tickets nobody fetched: drop the oldest.
                if let Some(oldest) = m.iter().min_by_key(|(_, v)| v.at).map(|(k, _)| k.clone()) {
                    m.remove(&oldest);
                }
            }
            m.insert(
                handle.id.clone(),
                Planned {
                    principal: p.clone(),
                    sql: handle.sql.clone(),
                    params: handle.params.clone(),
                    ctx,
                    plan,
                    at: now,
                },
            );
        }
        Ok(schema)
    }

    /// The plan GetFlightInfo made for this ticket, when the same principal presents the same
    /// statement within a minute. It is taken whoever presents the ticket: a ticket fetched
    /// again, or by someone else, is planned again in the caller's scope.
    fn take_planned(
        &self,
        p: &Principal,
        handle: &Handle,
    ) -> Option<(SessionContext, LogicalPlan)> {
        let planned = self.inner.planned.lock().ok()?.remove(&handle.id)?;
        let same = planned.principal == *p
            && planned.sql == handle.sql
            && planned.params == handle.params
            && planned.at.elapsed() < PLANNED_TTL;
        same.then_some((planned.ctx, planned.plan))
    }

    /// The tables `p` can see, as (schema, table, type, columns).
    async fn tables(
        &self,
        p: &Principal,
    ) -> Result<Vec<(String, String, String, SchemaRef)>, Status> {
        let ctx = self.session(p).await?;
        let mut out = Vec::new();
        let Some(catalog) = ctx.catalog(cdrlake_engine::CATALOG) else {
            return Ok(out);
        };
        for s in schema_names(catalog.as_ref()) {
            if s == "information_schema" {
                for t in INFORMATION_SCHEMA_TABLES {
                    if let Ok(table) = ctx.table_provider(format!("information_schema.{t}")).await {
                        out.push((
                            s.clone(),
                            t.to_string(),
                            "VIEW".into(),
                            wire_schema(&table.schema()),
                        ));
                    }
                }
                continue;
            }
            let Some(schema) = catalog.schema(&s) else {
                continue;
            };
            let mut names = schema.table_names();
            names.sort();
            for t in names {
                if let Ok(Some(table)) = schema.table(&t).await {
                    let kind = match (s.as_str(), table.table_type()) {
                        ("system", _) => "SYSTEM TABLE",
                        (_, TableType::Base) => "TABLE",
                        (_, TableType::View) => "VIEW",
                        (_, TableType::Temporary) => "LOCAL TEMPORARY",
                    };
                    out.push((s.clone(), t, kind.to_string(), wire_schema(&table.schema())));
                }
            }
        }
        Ok(out)
    }

    /// Ingests batches sent with DoPut into `table`, through the landing area and the same
    /// validation, quarantine and exactly-once commit as `cdrlake ingest`.
    async fn ingest(
        &self,
        p: &Principal,
        cmd: &CommandStatementIngest,
        batches: Vec<RecordBatch>,
    ) -> Result<i64, Status> {
        let Some(def) = cdrlake_schema::table(&cmd.table) else {
            return Err(Status::not_found(format!(
                "table '{}' does not exist: ingest goes to one of {}",
                cmd.table,
                cdrlake_schema::table_names().join(", ")
            )));
        };
        if let Some(s) = cmd
            .schema
            .as_deref()
            .filter(|s| !s.is_empty() && *s != cdrlake_engine::SCHEMA)
        {
            return Err(Status::not_found(format!(
                "schema '{s}': tables live in schema 'lake'"
            )));
        }
        if let Some(c) = cmd
            .catalog
            .as_deref()
            .filter(|c| !c.is_empty() && *c != cdrlake_engine::CATALOG)
        {
            return Err(Status::not_found(format!(
                "catalog '{c}': the catalog is 'cdrlake'"
            )));
        }
        if cmd.temporary {
            return Err(Status::invalid_argument(
                "temporary tables are not supported",
            ));
        }
        if let Some(o) = &cmd.table_definition_options {
            if o.if_exists == TableExistsOption::Replace as i32 {
                return Err(Status::permission_denied(format!(
                    "table {} is append-only: ingest appends (mode 'append'); it never replaces",
                    def.name
                )));
            }
            if o.if_exists == TableExistsOption::Fail as i32
                || (o.if_exists == TableExistsOption::Unspecified as i32
                    && o.if_not_exist == TableNotExistOption::Create as i32)
            {
                return Err(Status::already_exists(format!(
                    "table {} already exists: use mode 'append'",
                    def.name
                )));
            }
        }
        let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
        // A tenant-scoped user may only send their tenant's (and teams') rows.
        if let Some(tenant) = p.tenant.as_deref().filter(|_| !p.is_admin()) {
            for (i, b) in batches.iter().enumerate() {
                check_owned(b, "tenant_id", &[tenant.to_string()], i)?;
                if p.role == Role::TeamAdmin && b.schema().field_with_name("team_id").is_ok() {
                    check_owned(b, "team_id", &p.teams, i)?;
                }
            }
        }
        if rows == 0 {
            return Ok(0);
        }
        let path = format!(
            "{}/flight/{}/{}-{}-{}.parquet",
            cdrlake_store::Store::landing_prefix(def.name),
            chrono::Utc::now().format("%Y-%m-%d"),
            chrono::Utc::now().format("%H%M%S%.6f"),
            p.user,
            URL_SAFE_NO_PAD.encode(crate::users::random_bytes(6))
        );
        let schema = batches[0].schema();
        let mut buf = Vec::new();
        {
            let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, schema, None)
                .map_err(|e| Status::invalid_argument(format!("ingest into {}: {e}", def.name)))?;
            for b in &batches {
                w.write(b).map_err(|e| {
                    Status::invalid_argument(format!("ingest into {}: {e}", def.name))
                })?;
            }
            w.close()
                .map_err(|e| Status::internal(format!("ingest into {}: {e}", def.name)))?;
        }
        let store = self.inner.store.object_store();
        store
            .put(&object_store::path::Path::from(path.as_str()), buf.into())
            .await
            .map_err(|e| Status::unavailable(format!("landing {path}: {e}")))?;
        let summary = cdrlake_ingest::ingest(
            &self.inner.store,
            cdrlake_ingest::IngestOptions {
                tables: vec![def],
                ..Default::default()
            },
        )
        .await
        .map_err(|e| Status::internal(format!("ingest into {}: {e}", def.name)))?;
        tracing::info!(
            user = %p.user, table = def.name, file = %path,
            rows_ingested = summary.rows_ingested, rows_quarantined = summary.rows_quarantined,
            "ingested a DoPut batch"
        );
        // Keep the rollups in step. Were this to fail, queries would still be right (the lake
        // computes the partitions a rollup has not caught up with), only slower.
        if let Err(e) = cdrlake_jobs::rollup::refresh(&self.inner.store, false).await {
            tracing::warn!(error = %e, "refreshing the rollups after a DoPut ingest");
        }
        self.reload().await?;
        Ok(rows as i64)
    }
}

const INFORMATION_SCHEMA_TABLES: &[&str] = &[
    "columns",
    "df_settings",
    "parameters",
    "routines",
    "schemata",
    "tables",
    "views",
];

/// The catalog's schemas, with `information_schema` (which every session has, but the
/// catalog does not list), sorted.
fn schema_names(catalog: &dyn datafusion::catalog::CatalogProvider) -> Vec<String> {
    let mut names = catalog.schema_names();
    if !names.iter().any(|n| n == "information_schema") {
        names.push("information_schema".into());
    }
    names.sort();
    names
}

fn check_owned(
    b: &RecordBatch,
    column: &str,
    allowed: &[String],
    batch: usize,
) -> Result<(), Status> {
    let Ok(i) = b.schema().index_of(column) else {
        return Err(Status::permission_denied(format!(
            "batch {batch}: column {column} is missing; your rows must carry it"
        )));
    };
    let values = cast(b.column(i), &DataType::Utf8)
        .map_err(|e| Status::invalid_argument(format!("batch {batch}, column {column}: {e}")))?;
    let values = values
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| Status::internal("cast to Utf8"))?;
    for (row, v) in values.iter().enumerate() {
        match v {
            Some(v) if allowed.iter().any(|a| a == v) => {}
            other => {
                return Err(Status::permission_denied(format!(
                    "batch {batch}, row {row}: {column} {} is not yours ({}); nothing was ingested",
                    other
                        .map(|s| format!("'{s}'"))
                        .unwrap_or_else(|| "NULL".into()),
                    allowed.join(", ")
                )));
            }
        }
    }
    Ok(())
}

fn to_wire(
    b: &RecordBatch,
    schema: &SchemaRef,
) -> Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    let columns = b
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| {
            if c.data_type() == f.data_type() {
                Ok(Arc::clone(c))
            } else {
                cast(c, f.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    RecordBatch::try_new_with_options(
        Arc::clone(schema),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(b.num_rows())),
    )
}

fn status_text(s: &Status) -> String {
    format!("{:?}: {}", s.code(), s.message())
}

fn auth_status(e: AuthError) -> Status {
    match e {
        AuthError::Unauthenticated(m) => Status::unauthenticated(m),
        AuthError::Users(e) => Status::internal(e.to_string()),
    }
}

/// A DataFusion error as the gRPC status a client can act on.
pub fn df_status(e: DataFusionError) -> Status {
    let text = e.to_string();
    let root = e.find_root();
    match root {
        DataFusionError::ResourcesExhausted(_) => Status::resource_exhausted(text),
        DataFusionError::Plan(m) if m.contains("not found") && m.starts_with("table") => {
            Status::not_found(text)
        }
        DataFusionError::SQL(..)
        | DataFusionError::Plan(_)
        | DataFusionError::SchemaError(..)
        | DataFusionError::Configuration(_) => Status::invalid_argument(text),
        DataFusionError::NotImplemented(_) => Status::unimplemented(text),
        DataFusionError::ArrowError(a, _) => match a.as_ref() {
            datafusion::arrow::error::ArrowError::CastError(_)
            | datafusion::arrow::error::ArrowError::ParseError(_)
            | datafusion::arrow::error::ArrowError::DivideByZero
            | datafusion::arrow::error::ArrowError::ArithmeticOverflow(_)
            | datafusion::arrow::error::ArrowError::InvalidArgumentError(_)
            | datafusion::arrow::error::ArrowError::ComputeError(_) => {
                Status::invalid_argument(text)
            }
            _ => Status::internal(text),
        },
        DataFusionError::ObjectStore(_) | DataFusionError::IoError(_) => Status::unavailable(text),
        _ if text.contains("Resources exhausted") => Status::resource_exhausted(text),
        _ => Status::internal(text),
    }
}

/// Parses gRPC's `grpc-timeout` header value (`<digits><H|M|S|m|u|n>`).
fn parse_grpc_timeout(v: &str) -> Option<Duration> {
    let (num, unit) = v.split_at(v.len().checked_sub(1)?);
    let n: u64 = num.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Rewrites JDBC/ODBC `?` placeholders to DataFusion's `$1, $2, ...`, leaving string literals,
/// quoted identifiers and comments alone. SQL with `$n` already is returned unchanged.
pub fn placeholders_to_dollars(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                while let Some(d) = chars.next() {
                    out.push(d);
                    if d == c {
                        // A doubled quote is an escaped quote inside the literal.
                        if chars.peek() == Some(&c) {
                            out.push(c);
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for d in chars.by_ref() {
                    out.push(d);
                    if d == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                out.push(c);
                let mut prev = ' ';
                for d in chars.by_ref() {
                    out.push(d);
                    if prev == '*' && d == '/' {
                        break;
                    }
                    prev = d;
                }
            }
            '?' => {
                n += 1;
                out.push_str(&format!("${n}"));
            }
            _ => out.push(c),
        }
    }
    out
}

fn encode_params(batch: &RecordBatch) -> Result<String, Status> {
    let mut buf = Vec::new();
    {
        let mut w =
            datafusion::arrow::ipc::writer::StreamWriter::try_new(&mut buf, &batch.schema())
                .map_err(|e| Status::internal(e.to_string()))?;
        w.write(batch)
            .map_err(|e| Status::internal(e.to_string()))?;
        w.finish().map_err(|e| Status::internal(e.to_string()))?;
    }
    Ok(STANDARD.encode(buf))
}

fn decode_params(text: &str) -> Result<Vec<ScalarValue>, Status> {
    let bytes = STANDARD
        .decode(text)
        .map_err(|e| Status::invalid_argument(format!("bound parameters: {e}")))?;
    let reader =
        datafusion::arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
            .map_err(|e| Status::invalid_argument(format!("bound parameters: {e}")))?;
    let mut values = Vec::new();
    for b in reader {
        let b = b.map_err(|e| Status::invalid_argument(format!("bound parameters: {e}")))?;
        if b.num_rows() != 1 {
            return Err(Status::invalid_argument(format!(
                "bind exactly one row of parameters to a query, not {}",
                b.num_rows()
            )));
        }
        for c in b.columns() {
            values.push(ScalarValue::try_from_array(c, 0).map_err(df_status)?);
        }
    }
    Ok(values)
}

fn schema_ipc(schema: &Schema) -> Result<bytes::Bytes, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: datafusion::arrow::error::ArrowError| {
            Status::internal(format!("encoding a schema: {e}"))
        })?;
    Ok(bytes)
}

fn batch_stream(schema: SchemaRef, batch: Result<RecordBatch, Status>) -> Response<DoGetStream> {
    let input =
        futures::stream::once(async move { batch.map_err(|s| FlightError::Tonic(Box::new(s))) });
    let stream = FlightDataEncoderBuilder::new()
        .with_schema(schema)
        .build(input)
        .map_err(Status::from);
    Response::new(Box::pin(stream))
}

fn arrow_status(e: FlightError) -> Status {
    Status::from(e)
}

/// `ActionCancelQueryResult.result` values (Flight SQL `CancelResult`).
const CANCELLED: i32 = 1;
const NOT_CANCELLABLE: i32 = 3;

#[tonic::async_trait]
impl FlightSqlService for CdrlakeFlightSql {
    type FlightService = CdrlakeFlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<HandshakeStream>, Status> {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| {
                Status::unauthenticated(
                    "the handshake needs 'authorization: Basic <base64 user:password>'",
                )
            })?;
        let Some(basic) = header
            .strip_prefix("Basic ")
            .or_else(|| header.strip_prefix("basic "))
        else {
            // A bearer token is checked and echoed back (some clients handshake again).
            if let Some(token) = header.strip_prefix("Bearer ") {
                let p = self.principal(&request).await?;
                tracing::debug!(user = %p.user, "handshake with a bearer token");
                return Ok(handshake_response(token.trim()));
            }
            return Err(Status::unauthenticated(
                "the handshake needs 'authorization: Basic <base64 user:password>'",
            ));
        };
        let (p, token) = self.login(basic.trim()).await?;
        tracing::info!(user = %p.user, role = %p.role, "logged in");
        self.seen(&token, &p);
        Ok(handshake_response(&token))
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let p = self.principal(&request).await?;
        let handle = Handle::new(query.query, None);
        let schema = self.plan_for_ticket(&p, &handle).await?;
        let ticket = TicketStatementQuery {
            statement_handle: handle.encode()?,
        };
        let ticket = Ticket::new(ticket.as_any().encode_to_vec());
        self.flight_info(&schema, ticket, request.into_inner())
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let handle = Handle::decode(&ticket.statement_handle)?;
        self.run(&request, handle).await
    }

    async fn get_flight_info_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let p = self.principal(&request).await?;
        let handle = Handle::decode(&cmd.prepared_statement_handle)?;
        let run = Handle::new(handle.sql, handle.params);
        let schema = self.plan_for_ticket(&p, &run).await?;
        let cmd = CommandPreparedStatementQuery {
            prepared_statement_handle: run.encode()?,
        };
        let ticket = Ticket::new(cmd.as_any().encode_to_vec());
        self.flight_info(&schema, ticket, request.into_inner())
    }

    async fn do_get_prepared_statement(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let handle = Handle::decode(&cmd.prepared_statement_handle)?;
        self.run(&request, handle).await
    }

    async fn do_action_create_prepared_statement(
        &self,
        query: ActionCreatePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> Result<ActionCreatePreparedStatementResult, Status> {
        let p = self.principal(&request).await?;
        let (_ctx, plan) = self.plan(&p, &query.query, None).await?;
        let dataset = wire_schema(plan.schema().as_arrow());
        let mut params: Vec<(usize, DataType)> = plan
            .get_parameter_types()
            .map_err(df_status)?
            .into_iter()
            .filter_map(|(id, t)| {
                let n = id.trim_start_matches('$').parse::<usize>().ok()?;
                Some((n, t.unwrap_or(DataType::Utf8)))
            })
            .collect();
        params.sort_by_key(|(n, _)| *n);
        let parameter_schema = Schema::new(
            params
                .into_iter()
                .map(|(n, t)| Field::new(format!("${n}"), crate::metadata::wire_type(&t), true))
                .collect::<Vec<_>>(),
        );
        let handle = Handle::new(query.query, None);
        Ok(ActionCreatePreparedStatementResult {
            prepared_statement_handle: handle.encode()?,
            dataset_schema: schema_ipc(&dataset)?,
            parameter_schema: schema_ipc(&parameter_schema)?,
        })
    }

    async fn do_put_prepared_statement_query(
        &self,
        cmd: CommandPreparedStatementQuery,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<DoPutPreparedStatementResult, Status> {
        self.principal(&request).await?;
        let handle = Handle::decode(&cmd.prepared_statement_handle)?;
        let batches: Vec<RecordBatch> = FlightRecordBatchStream::new_from_flight_data(
            request.into_inner().map_err(FlightError::from),
        )
        .try_collect()
        .await
        .map_err(Status::from)?;
        let batches: Vec<RecordBatch> = batches.into_iter().filter(|b| b.num_rows() > 0).collect();
        let params = match batches.as_slice() {
            [] => None,
            [b] => Some(encode_params(b)?),
            _ => {
                return Err(Status::invalid_argument(
                    "bind exactly one row of parameters to a query",
                ));
            }
        };
        let bound = Handle::new(handle.sql, params);
        Ok(DoPutPreparedStatementResult {
            prepared_statement_handle: Some(bound.encode()?),
        })
    }

    async fn do_action_close_prepared_statement(
        &self,
        _query: ActionClosePreparedStatementRequest,
        request: Request<arrow_flight::Action>,
    ) -> Result<(), Status> {
        // Handles are stateless: nothing to free.
        self.principal(&request).await?;
        Ok(())
    }

    async fn do_put_statement_update(
        &self,
        cmd: CommandStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let p = self.principal(&request).await?;
        self.update(&p, &cmd.query, None).await
    }

    async fn do_put_prepared_statement_update(
        &self,
        cmd: CommandPreparedStatementUpdate,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let p = self.principal(&request).await?;
        let handle = Handle::decode(&cmd.prepared_statement_handle)?;
        self.update(&p, &handle.sql, handle.params.as_deref()).await
    }

    async fn do_put_statement_ingest(
        &self,
        cmd: CommandStatementIngest,
        request: Request<PeekableFlightDataStream>,
    ) -> Result<i64, Status> {
        let p = self.principal(&request).await?;
        if !p.may("ingest") {
            return Err(Status::permission_denied(format!(
                "user {} lacks the 'ingest' permission",
                p.user
            )));
        }
        let batches: Vec<RecordBatch> = FlightRecordBatchStream::new_from_flight_data(
            request.into_inner().map_err(FlightError::from),
        )
        .try_collect()
        .await
        .map_err(Status::from)?;
        self.ingest(&p, &cmd, batches).await
    }

    async fn get_flight_info_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        self.metadata_info(query.as_any(), &schema, request).await
    }

    async fn do_get_catalogs(
        &self,
        query: CommandGetCatalogs,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.principal(&request).await?;
        let mut b: GetCatalogsBuilder = query.into_builder();
        b.append(cdrlake_engine::CATALOG);
        let schema = b.schema();
        Ok(batch_stream(schema, b.build().map_err(arrow_status)))
    }

    async fn get_flight_info_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        self.metadata_info(query.as_any(), &schema, request).await
    }

    async fn do_get_schemas(
        &self,
        query: CommandGetDbSchemas,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let p = self.principal(&request).await?;
        let ctx = self.session(&p).await?;
        let mut b: GetDbSchemasBuilder = query.into_builder();
        if let Some(cat) = ctx.catalog(cdrlake_engine::CATALOG) {
            for s in schema_names(cat.as_ref()) {
                b.append(cdrlake_engine::CATALOG, s);
            }
        }
        let schema = b.schema();
        Ok(batch_stream(schema, b.build().map_err(arrow_status)))
    }

    async fn get_flight_info_tables(
        &self,
        query: CommandGetTables,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder().schema();
        self.metadata_info(query.as_any(), &schema, request).await
    }

    async fn do_get_tables(
        &self,
        query: CommandGetTables,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        let p = self.principal(&request).await?;
        // "BASE TABLE" (what JDBC tools ask for) is the same as "TABLE" here.
        let mut query = query;
        if query.table_types.iter().any(|t| t == "BASE TABLE") {
            query.table_types.push("TABLE".into());
        }
        let mut b: GetTablesBuilder = query.into_builder();
        for (schema, table, kind, columns) in self.tables(&p).await? {
            b.append(cdrlake_engine::CATALOG, schema, table, kind, &columns)
                .map_err(arrow_status)?;
        }
        let schema = b.schema();
        Ok(batch_stream(schema, b.build().map_err(arrow_status)))
    }

    async fn get_flight_info_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder().schema();
        self.metadata_info(query.as_any(), &schema, request).await
    }

    async fn do_get_table_types(
        &self,
        query: CommandGetTableTypes,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.principal(&request).await?;
        let mut b = query.into_builder();
        for t in ["LOCAL TEMPORARY", "SYSTEM TABLE", "TABLE", "VIEW"] {
            b.append(t);
        }
        let schema = b.schema();
        Ok(batch_stream(schema, b.build().map_err(arrow_status)))
    }

    async fn get_flight_info_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.clone().into_builder(&SQL_INFO).schema();
        self.metadata_info(query.as_any(), &schema, request).await
    }

    async fn do_get_sql_info(
        &self,
        query: CommandGetSqlInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.principal(&request).await?;
        let b = query.into_builder(&SQL_INFO);
        let schema = b.schema();
        Ok(batch_stream(schema, b.build().map_err(arrow_status)))
    }

    async fn get_flight_info_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let schema = query.into_builder(&XDBC_TYPES).schema();
        self.metadata_info(query.as_any(), &schema, request).await
    }

    async fn do_get_xdbc_type_info(
        &self,
        query: CommandGetXdbcTypeInfo,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.principal(&request).await?;
        let b = query.into_builder(&XDBC_TYPES);
        let schema = b.schema();
        Ok(batch_stream(schema, b.build().map_err(arrow_status)))
    }

    async fn get_flight_info_primary_keys(
        &self,
        query: CommandGetPrimaryKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.metadata_info(query.as_any(), &primary_keys_schema(), request)
            .await
    }

    async fn do_get_primary_keys(
        &self,
        _query: CommandGetPrimaryKeys,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.principal(&request).await?;
        Ok(empty(primary_keys_schema()))
    }

    async fn get_flight_info_exported_keys(
        &self,
        query: CommandGetExportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.metadata_info(query.as_any(), &keys_schema(), request)
            .await
    }

    async fn do_get_exported_keys(
        &self,
        _query: CommandGetExportedKeys,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.principal(&request).await?;
        Ok(empty(keys_schema()))
    }

    async fn get_flight_info_imported_keys(
        &self,
        query: CommandGetImportedKeys,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.metadata_info(query.as_any(), &keys_schema(), request)
            .await
    }

    async fn do_get_imported_keys(
        &self,
        _query: CommandGetImportedKeys,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.principal(&request).await?;
        Ok(empty(keys_schema()))
    }

    async fn get_flight_info_cross_reference(
        &self,
        query: CommandGetCrossReference,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        self.metadata_info(query.as_any(), &keys_schema(), request)
            .await
    }

    async fn do_get_cross_reference(
        &self,
        _query: CommandGetCrossReference,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as FlightService>::DoGetStream>, Status> {
        self.principal(&request).await?;
        Ok(empty(keys_schema()))
    }

    async fn do_action_cancel_query(
        &self,
        query: ActionCancelQueryRequest,
        request: Request<arrow_flight::Action>,
    ) -> Result<ActionCancelQueryResult, Status> {
        let p = self.principal(&request).await?;
        let info = FlightInfo::decode(query.info)
            .map_err(|e| Status::invalid_argument(format!("CancelQuery: not a FlightInfo: {e}")))?;
        let mut result = NOT_CANCELLABLE;
        for endpoint in &info.endpoint {
            let Some(ticket) = &endpoint.ticket else {
                continue;
            };
            let Ok(any) = Any::decode(ticket.ticket.clone()) else {
                continue;
            };
            let handle = if let Ok(Some(t)) = any.unpack::<TicketStatementQuery>() {
                Handle::decode(&t.statement_handle).ok()
            } else if let Ok(Some(c)) = any.unpack::<CommandPreparedStatementQuery>() {
                Handle::decode(&c.prepared_statement_handle).ok()
            } else {
                None
            };
            let Some(handle) = handle else {
                continue;
            };
            // Only the query's own user (or an administrator) may cancel it.
            let owner = self
                .inner
                .queries
                .lock()
                .ok()
                .and_then(|q| q.iter().find(|r| r.id == handle.id).map(|r| r.user.clone()));
            if owner.as_deref() != Some(p.user.as_str()) && !p.is_admin() {
                continue;
            }
            let notify = self
                .inner
                .running
                .lock()
                .ok()
                .and_then(|r| r.get(&handle.id).cloned());
            if let Some(n) = notify {
                tracing::info!(query = %handle.id, by = %p.user, "cancelling a query");
                n.notify_one();
                result = CANCELLED;
            }
        }
        Ok(ActionCancelQueryResult { result })
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

impl CdrlakeFlightSql {
    /// DDL and DML over Flight (`executeUpdate`): administrators only; tenants get
    /// PERMISSION_DENIED from [`Self::plan`]. Returns the affected row count when the
    /// statement reports one.
    async fn update(&self, p: &Principal, sql: &str, params: Option<&str>) -> Result<i64, Status> {
        let (ctx, plan) = self.plan(p, sql, params).await?;
        let df = ctx.execute_logical_plan(plan).await.map_err(df_status)?;
        let batches = df.collect().await.map_err(df_status)?;
        let mut count = 0i64;
        for b in &batches {
            if let Some(c) = b.column_by_name("count")
                && let Some(c) = c
                    .as_any()
                    .downcast_ref::<datafusion::arrow::array::UInt64Array>()
            {
                count += c.iter().flatten().sum::<u64>() as i64;
            }
        }
        Ok(count)
    }
}

fn handshake_response(token: &str) -> Response<HandshakeStream> {
    let out = futures::stream::iter(vec![Ok(HandshakeResponse {
        protocol_version: 0,
        payload: token.as_bytes().to_vec().into(),
    })]);
    let mut response: Response<HandshakeStream> = Response::new(Box::pin(out));
    if let Ok(v) = MetadataValue::try_from(format!("Bearer {token}")) {
        response.metadata_mut().insert("authorization", v);
    }
    response
}

/// The schema of GetPrimaryKeys answers (Flight SQL spec).
fn primary_keys_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("catalog_name", DataType::Utf8, true),
        Field::new("db_schema_name", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("key_name", DataType::Utf8, true),
        Field::new("key_sequence", DataType::Int32, false),
    ]))
}

/// The schema of GetExportedKeys, GetImportedKeys and GetCrossReference answers.
fn keys_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("pk_catalog_name", DataType::Utf8, true),
        Field::new("pk_db_schema_name", DataType::Utf8, true),
        Field::new("pk_table_name", DataType::Utf8, false),
        Field::new("pk_column_name", DataType::Utf8, false),
        Field::new("fk_catalog_name", DataType::Utf8, true),
        Field::new("fk_db_schema_name", DataType::Utf8, true),
        Field::new("fk_table_name", DataType::Utf8, false),
        Field::new("fk_column_name", DataType::Utf8, false),
        Field::new("key_sequence", DataType::Int32, false),
        Field::new("fk_key_name", DataType::Utf8, true),
        Field::new("pk_key_name", DataType::Utf8, true),
        Field::new("update_rule", DataType::UInt8, false),
        Field::new("delete_rule", DataType::UInt8, false),
    ]))
}

fn empty(schema: SchemaRef) -> Response<DoGetStream> {
    let batch = RecordBatch::new_empty(Arc::clone(&schema));
    batch_stream(schema, Ok(batch))
}

/// The background refresh of the lake snapshot. Stop it before the runtime ends: a snapshot
/// load cut off by the runtime's shutdown panics inside the Delta kernel.
pub struct RefreshTask {
    stop: Arc<tokio::sync::Notify>,
    handle: tokio::task::JoinHandle<()>,
}

impl RefreshTask {
    /// Stops the loop, letting a reload in progress finish.
    pub async fn stop(self) {
        self.stop.notify_one();
        let _ = self.handle.await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn question_marks_become_numbered_placeholders_outside_literals() {
        assert_eq!(
            placeholders_to_dollars("SELECT * FROM calls WHERE a = ? AND b = '?' AND c = ?"),
            "SELECT * FROM calls WHERE a = $1 AND b = '?' AND c = $2"
        );
        assert_eq!(
            placeholders_to_dollars("SELECT 'it''s ?', \"we?ird\" -- why?\n, ? /* ? */"),
            "SELECT 'it''s ?', \"we?ird\" -- why?\n, $1 /* ? */"
        );
        assert_eq!(placeholders_to_dollars("SELECT $1"), "SELECT $1");
    }

    #[test]
    fn grpc_timeouts() {
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_grpc_timeout("x"), None);
        assert_eq!(parse_grpc_timeout(""), None);
    }

    #[test]
    fn parameters_round_trip() {
        let batch = RecordBatch::try_from_iter(vec![
            ("a", Arc::new(StringArray::from(vec!["hudson"])) as ArrayRef),
            ("b", Arc::new(Int64Array::from(vec![7])) as ArrayRef),
        ])
        .expect("batch");
        let text = encode_params(&batch).expect("encode");
        let values = decode_params(&text).expect("decode");
        assert_eq!(
            values,
            vec![
                ScalarValue::Utf8(Some("hudson".into())),
                ScalarValue::Int64(Some(7))
            ]
        );
    }

    #[test]
    fn resource_errors_map_to_resource_exhausted() {
        let e = DataFusionError::Context(
            "while sorting".into(),
            Box::new(DataFusionError::ResourcesExhausted("pool is full".into())),
        );
        assert_eq!(df_status(e).code(), tonic::Code::ResourceExhausted);
        let e = DataFusionError::Plan("table 'cdrlake.lake.nope' not found".into());
        assert_eq!(df_status(e).code(), tonic::Code::NotFound);
        let e = DataFusionError::SQL(
            Box::new(datafusion::sql::sqlparser::parser::ParserError::ParserError("x".into())),
            None,
        );
        assert_eq!(df_status(e).code(), tonic::Code::InvalidArgument);
    }
}
