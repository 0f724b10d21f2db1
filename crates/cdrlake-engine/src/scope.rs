//! Row-level isolation: what a tenant admin or a team admin may see of the lake.
//!
//! A scoped session registers, under each lake table's name, a [`ScopedTable`] instead of the
//! table itself. Its scan reads the real table with the scope's restriction applied first
//! (`tenant_id = '<tenant>'`, and for a team admin the team's rows only), and a barrier node
//! above it keeps every other filter of the query from being evaluated on rows outside the
//! scope. The real tables are never registered in a scoped session, so no name, subquery,
//! join, view, report or table function of the session can reach them.
//!
//! Why a barrier: DataFusion pushes filters into the Parquet decoder and may reorder them. A
//! filter that can fail (`CAST(caller_number AS BIGINT) > 0`) evaluated on a foreign row
//! would put that row's value into the error message. So only filters that cannot fail
//! (comparisons of columns with constants, `IN`, `BETWEEN`, `IS NULL`, `LIKE`, ...) are pushed
//! below the restriction, where they prune files, row groups and pages; every other filter
//! runs above the barrier, on rows of the scope only.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::{JoinType, Statistics, exec_err};
use datafusion::datasource::TableType;
use datafusion::error::Result;
use datafusion::execution::SessionState;
use datafusion::logical_expr::{Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use crate::barrier::BarrierExec;
use datafusion::prelude::{SessionContext, col, lit};

/// Whose rows a session sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every row of every tenant (administrators, the CLI).
    All,
    /// One tenant's rows; with `teams`, only those teams' rows of that tenant.
    Tenant {
        tenant: String,
        teams: Option<Vec<String>>,
    },
}

impl Scope {
    pub fn tenant(tenant: impl Into<String>) -> Scope {
        Scope::Tenant {
            tenant: tenant.into(),
            teams: None,
        }
    }

    pub fn teams(tenant: impl Into<String>, teams: Vec<String>) -> Scope {
        Scope::Tenant {
            tenant: tenant.into(),
            teams: Some(teams),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::All => write!(f, "all tenants"),
            Scope::Tenant {
                tenant,
                teams: None,
            } => write!(f, "tenant {tenant}"),
            Scope::Tenant {
                tenant,
                teams: Some(t),
            } => write!(f, "tenant {tenant}, teams {}", t.join(", ")),
        }
    }
}

/// How a table's rows belong to a team.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TeamLink {
    /// The table has `team_id`.
    Column,
    /// Through the call: `call_id` of a call of the team (streams).
    Call,
    /// Through the user: this column names a user of the team (registrations, numbers).
    User(&'static str),
    /// Shared by the whole tenant (tenants).
    Tenant,
    /// Figures of the whole tenant that no team's rows can be told apart in
    /// (`concurrency_slots`): a tenant admin's session has the table, a team admin's does not.
    TenantWide,
}

/// How each lake table is restricted for a team admin. `None`: the table is not shown to a
/// scoped session at all (quarantines, whose raw rows carry no trustworthy tenant).
pub(crate) fn team_link(table: &str) -> Option<TeamLink> {
    Some(match table {
        "calls" | "messages" | "users" | "teams" => TeamLink::Column,
        // Rollups carry the tenant and team of the rows they summarise.
        r if let Some(def) = cdrlake_schema::rollup::rollup(r) => match def.team_user_column {
            Some(column) => TeamLink::User(column),
            None => TeamLink::Column,
        },
        "streams" => TeamLink::Call,
        "registrations" => TeamLink::User("user_id"),
        "numbers" => TeamLink::User("assigned_to"),
        "tenants" => TeamLink::Tenant,
        r if r == cdrlake_schema::CONCURRENCY_SLOTS.name => TeamLink::TenantWide,
        _ => return None,
    })
}

/// A lake table as a scoped session sees it.
#[derive(Debug)]
pub(crate) struct ScopedTable {
    pub name: String,
    pub inner: Arc<dyn TableProvider>,
    pub tenant: String,
    pub teams: Option<Vec<String>>,
    pub link: TeamLink,
    /// The real `calls` and `users` tables, for the team restriction of tables linked through
    /// them (never registered in the session).
    pub calls: Arc<dyn TableProvider>,
    pub users: Arc<dyn TableProvider>,
}

impl ScopedTable {
    fn tenant_filter(&self) -> Expr {
        col("tenant_id").eq(lit(self.tenant.as_str()))
    }

    fn team_list(&self, column: &str, teams: &[String]) -> Expr {
        col(column).in_list(teams.iter().map(|t| lit(t.as_str())).collect(), false)
    }
}

#[async_trait]
impl TableProvider for ScopedTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn statistics(&self) -> Option<Statistics> {
        None
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if cannot_fail(f) {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(state) = state.as_any().downcast_ref::<SessionState>() else {
            return exec_err!("table {}: scoped scans need a SessionState", self.name);
        };
        let ctx = SessionContext::new_with_state(state.clone());
        let mut df = ctx
            .read_table(Arc::clone(&self.inner))?
            .filter(self.tenant_filter())?;
        if let Some(teams) = &self.teams {
            df = match self.link {
                TeamLink::Column => df.filter(self.team_list("team_id", teams))?,
                TeamLink::Tenant => df,
                // Never registered for a team admin (see `Lake::session`); no rows if it were.
                TeamLink::TenantWide => df.filter(lit(false))?,
                TeamLink::Call => {
                    let keys = ctx
                        .read_table(Arc::clone(&self.calls))?
                        .filter(self.tenant_filter())?
                        .filter(self.team_list("team_id", teams))?
                        .select(vec![col("call_id").alias("__scope_call_id")])?;
                    df.join(
                        keys,
                        JoinType::LeftSemi,
                        &["call_id"],
                        &["__scope_call_id"],
                        None,
                    )?
                }
                TeamLink::User(column) => {
                    let keys = ctx
                        .read_table(Arc::clone(&self.users))?
                        .filter(self.tenant_filter())?
                        .filter(self.team_list("team_id", teams))?
                        .select(vec![col("user_id").alias("__scope_user_id")])?;
                    df.join(
                        keys,
                        JoinType::LeftSemi,
                        &[column],
                        &["__scope_user_id"],
                        None,
                    )?
                }
            };
        }
        // Only filters that cannot fail were accepted (see `supports_filters_pushdown`); they
        // are re-checked above the barrier too, as "inexact" filters are.
        for f in filters {
            if cannot_fail(f) {
                df = df.filter(cdrlake_functions::unqualified(f)?)?;
            }
        }
        let schema = self.inner.schema();
        let columns: Vec<Expr> = match projection {
            Some(p) => p.iter().map(|i| col(schema.field(*i).name())).collect(),
            None => schema.fields().iter().map(|f| col(f.name())).collect(),
        };
        df = df.select(columns)?;
        if let Some(n) = limit {
            df = df.limit(0, Some(n))?;
        }
        let plan = df.create_physical_plan().await?;
        Ok(scope_barrier(&self.name, plan))
    }
}

/// True when evaluating `e` on a row can never fail, so evaluating it on rows outside the
/// scope reveals nothing: comparisons, boolean logic, `IN`, `BETWEEN`, null tests and `LIKE`
/// over columns and constants. Anything without a column reference is a constant (its error,
/// if any, does not depend on data).
pub(crate) fn cannot_fail(e: &Expr) -> bool {
    if e.column_refs().is_empty() {
        return true;
    }
    match e {
        Expr::Column(_) | Expr::Literal(..) => true,
        Expr::BinaryExpr(b) => {
            matches!(
                b.op,
                Operator::Eq
                    | Operator::NotEq
                    | Operator::Lt
                    | Operator::LtEq
                    | Operator::Gt
                    | Operator::GtEq
                    | Operator::And
                    | Operator::Or
                    | Operator::IsDistinctFrom
                    | Operator::IsNotDistinctFrom
            ) && cannot_fail(&b.left)
                && cannot_fail(&b.right)
        }
        Expr::Not(x)
        | Expr::IsNull(x)
        | Expr::IsNotNull(x)
        | Expr::IsTrue(x)
        | Expr::IsFalse(x)
        | Expr::IsNotTrue(x)
        | Expr::IsNotFalse(x)
        | Expr::IsUnknown(x)
        | Expr::IsNotUnknown(x) => cannot_fail(x),
        Expr::TryCast(c) => cannot_fail(&c.expr),
        Expr::Between(b) => cannot_fail(&b.expr) && cannot_fail(&b.low) && cannot_fail(&b.high),
        Expr::InList(l) => cannot_fail(&l.expr) && l.list.iter().all(cannot_fail),
        Expr::Like(l) => l.escape_char.is_none() && cannot_fail(&l.expr) && cannot_fail(&l.pattern),
        _ => false,
    }
}

/// The barrier above a scoped scan (see the module documentation).
fn scope_barrier(table: &str, input: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
    Arc::new(BarrierExec::new(
        "ScopeExec",
        format!("table={table}"),
        input,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, RecordBatch, StringArray};
    use datafusion::datasource::MemTable;

    fn table(columns: &[(&str, Vec<&str>)]) -> Arc<dyn TableProvider> {
        let batch = RecordBatch::try_from_iter(
            columns
                .iter()
                .map(|(n, v)| (*n, Arc::new(StringArray::from(v.clone())) as ArrayRef)),
        )
        .expect("batch");
        Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]]).expect("table"))
    }

    /// calls and streams of two tenants; hudson's rows come first, as in the lake's sort.
    fn session(scope_teams: Option<Vec<String>>) -> SessionContext {
        let calls = table(&[
            ("tenant_id", vec!["hudson", "hudson", "spree", "spree"]),
            ("team_id", vec!["lit", "corp", "support", "sales"]),
            ("call_id", vec!["h-secret-1", "h-secret-2", "7", "8"]),
        ]);
        let streams = table(&[
            ("tenant_id", vec!["hudson", "spree", "spree"]),
            ("call_id", vec!["h-secret-1", "7", "8"]),
            ("codec", vec!["G.722", "OPUS", "PCMA"]),
        ]);
        let users = table(&[
            ("tenant_id", vec!["spree"]),
            ("user_id", vec!["jonas"]),
            ("team_id", vec!["support"]),
        ]);
        let ctx = SessionContext::new();
        for (name, inner) in [("calls", &calls), ("streams", &streams)] {
            let scoped = ScopedTable {
                name: name.into(),
                inner: Arc::clone(inner),
                tenant: "spree".into(),
                teams: scope_teams.clone(),
                link: team_link(name).expect("link"),
                calls: Arc::clone(&calls),
                users: Arc::clone(&users),
            };
            ctx.register_table(name, Arc::new(scoped))
                .expect("register");
        }
        ctx
    }

    async fn strings(ctx: &SessionContext, q: &str) -> Vec<String> {
        let batches = ctx.sql(q).await.expect(q).collect().await.expect(q);
        let mut out = vec![];
        for b in batches {
            let c = datafusion::arrow::compute::cast(
                b.column(0),
                &datafusion::arrow::datatypes::DataType::Utf8,
            )
            .expect("cast");
            let c = c.as_any().downcast_ref::<StringArray>().expect("strings");
            out.extend(c.iter().map(|v| v.unwrap_or("NULL").to_string()));
        }
        out.sort();
        out
    }

    #[tokio::test]
    async fn a_tenant_sees_only_its_rows() {
        let ctx = session(None);
        assert_eq!(
            strings(&ctx, "SELECT DISTINCT tenant_id FROM calls").await,
            ["spree"]
        );
        assert_eq!(
            strings(
                &ctx,
                "SELECT call_id FROM calls WHERE tenant_id = 'hudson' OR 1 = 1"
            )
            .await,
            ["7", "8"]
        );
        assert_eq!(
            strings(
                &ctx,
                "SELECT s.codec FROM streams s JOIN calls c USING (call_id)"
            )
            .await,
            ["OPUS", "PCMA"]
        );
    }

    #[tokio::test]
    async fn a_team_admin_sees_only_its_teams_rows_and_their_streams() {
        let ctx = session(Some(vec!["support".into()]));
        assert_eq!(strings(&ctx, "SELECT call_id FROM calls").await, ["7"]);
        assert_eq!(strings(&ctx, "SELECT codec FROM streams").await, ["OPUS"]);
    }

    #[tokio::test]
    async fn a_failing_filter_never_sees_foreign_rows() {
        // Without the barrier the cast below may be evaluated on hudson's call ids first, and
        // the error would quote one. Only the scope's rows reach it: all numeric, no error.
        let ctx = session(None);
        let q = "SELECT call_id FROM calls WHERE CAST(call_id AS BIGINT) > 0";
        assert_eq!(strings(&ctx, q).await, ["7", "8"]);
        let q = "SELECT codec FROM streams WHERE CAST(call_id AS BIGINT) = 8";
        assert_eq!(strings(&ctx, q).await, ["PCMA"]);
    }

    #[test]
    fn which_filters_may_go_below_the_scope() {
        use datafusion::prelude::{cast, lit};
        assert!(cannot_fail(&col("a").eq(lit("x"))));
        assert!(cannot_fail(
            &col("a")
                .in_list(vec![lit("x"), lit("y")], false)
                .and(col("b").is_null())
        ));
        assert!(cannot_fail(&col("a").like(lit("x%"))));
        assert!(!cannot_fail(
            &cast(col("a"), datafusion::arrow::datatypes::DataType::Int64).gt(lit(0))
        ));
        assert!(!cannot_fail(&(col("a") / lit(0)).eq(lit(1))));
        assert!(cannot_fail(&col("a").eq(cast(
            lit("1"),
            datafusion::arrow::datatypes::DataType::Int64
        ))));
    }
}
