//! Reports as tables and table functions of a DataFusion session.

use std::collections::HashMap;
use std::fmt;
use std::ops::ControlFlow;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, BooleanArray, Int32Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{
    MemorySchemaProvider, SchemaProvider, Session, TableFunctionArgs, TableFunctionImpl,
    TableProvider,
};
use datafusion::common::{DataFusionError, ScalarValue, plan_datafusion_err, plan_err};
use datafusion::datasource::{MemTable, TableType};
use datafusion::error::Result;
use datafusion::execution::{SessionState, SessionStateBuilder};
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{Column, cast};
use datafusion::physical_expr::projection::ProjectionExpr;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    self as sql, Ident, ObjectName, ObjectNamePart, TableFactor, Value, VisitMut, VisitorMut,
};

use crate::catalog::{Catalog, ParamType, Report};

/// The schema reports are registered in.
pub const REPORTS_SCHEMA: &str = "reports";

/// Registers every report of `catalog` in `ctx` under `<catalog_name>.reports`, plus
/// `reports.catalog`. The lake's tables must be registered first: each report is planned once
/// here, with its defaults, to learn its columns.
pub async fn register(ctx: &SessionContext, catalog_name: &str, catalog: &Catalog) -> Result<()> {
    let prepared = prepare(&ctx.state(), catalog).await?;
    install(ctx, catalog_name, &prepared)
}

/// The reports of a catalog, planned once to learn their columns, ready to be installed in
/// any number of sessions with [`install`] (a server installs them in every query's session).
/// Nothing in it depends on the session that prepared it: each report is planned again in the
/// session that runs it, over that session's tables.
#[derive(Clone)]
pub struct PreparedReports {
    schema: Arc<MemorySchemaProvider>,
    functions: Vec<(String, Arc<dyn TableFunctionImpl>)>,
}

impl Default for PreparedReports {
    fn default() -> Self {
        PreparedReports {
            schema: Arc::new(MemorySchemaProvider::new()),
            functions: Vec::new(),
        }
    }
}

impl fmt::Debug for PreparedReports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PreparedReports")
            .field("functions", &self.functions.len())
            .finish()
    }
}

/// Plans every report of `catalog` in `state` (which must have the lake's tables) with its
/// defaults, to learn its columns.
pub async fn prepare(state: &SessionState, catalog: &Catalog) -> Result<PreparedReports> {
    let schema = Arc::new(MemorySchemaProvider::new());
    let mut functions: Vec<(String, Arc<dyn TableFunctionImpl>)> = Vec::new();
    let mut rows = Vec::new();
    for report in &catalog.reports {
        let defaults = vec![None; report.params.len()];
        let plan = plan_report(state, report, &defaults).await.map_err(|e| {
            DataFusionError::Plan(format!(
                "report {} ({}): {e}",
                report.versioned_name(),
                report.path()
            ))
        })?;
        let columns: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
        let function = Arc::new(ReportFunction {
            report: Arc::clone(report),
            schema: Arc::clone(&columns),
        });
        let table = Arc::new(ReportTable {
            report: Arc::clone(report),
            args: defaults,
            schema: Arc::clone(&columns),
        });
        let versioned = report.versioned_name();
        functions.push((format!("{REPORTS_SCHEMA}.{versioned}"), function.clone()));
        schema.register_table(versioned, table.clone())?;
        if report.latest {
            functions.push((format!("{REPORTS_SCHEMA}.{}", report.name), function));
            schema.register_table(report.name.clone(), table)?;
        }
        rows.push((Arc::clone(report), columns));
    }
    let batch = catalog_batch(&rows)?;
    schema.register_table(
        "catalog".to_string(),
        Arc::new(MemTable::try_new(batch.schema(), vec![vec![batch]])?),
    )?;
    Ok(PreparedReports { schema, functions })
}

/// Installs prepared reports in `ctx` under `<catalog_name>.reports`.
pub fn install(ctx: &SessionContext, catalog_name: &str, prepared: &PreparedReports) -> Result<()> {
    let Some(cat) = ctx.catalog(catalog_name) else {
        return plan_err!("catalog {catalog_name} does not exist");
    };
    let schema: Arc<dyn SchemaProvider> = Arc::new(ReadOnlySchema(prepared.schema.clone()));
    cat.register_schema(REPORTS_SCHEMA, schema)?;
    for (name, function) in &prepared.functions {
        ctx.register_udtf(name, Arc::clone(function));
    }
    Ok(())
}

/// The `reports` schema as sessions see it: shared by every session of a server, so nobody
/// may add to it or drop from it.
#[derive(Debug)]
struct ReadOnlySchema(Arc<MemorySchemaProvider>);

#[async_trait]
impl SchemaProvider for ReadOnlySchema {
    fn table_names(&self) -> Vec<String> {
        self.0.table_names()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        self.0.table(name).await
    }

    fn table_exist(&self, name: &str) -> bool {
        self.0.table_exist(name)
    }

    fn register_table(
        &self,
        name: String,
        _table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        plan_err!("schema {REPORTS_SCHEMA} is read-only: cannot create {name} in it")
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        plan_err!("schema {REPORTS_SCHEMA} is read-only: cannot drop {name}")
    }
}

fn catalog_batch(rows: &[(Arc<Report>, SchemaRef)]) -> Result<RecordBatch> {
    let text = |f: &dyn Fn(&Report, &SchemaRef) -> String| -> ArrayRef {
        Arc::new(StringArray::from(
            rows.iter().map(|(r, s)| f(r, s)).collect::<Vec<_>>(),
        ))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("name", DataType::Utf8, false),
        Field::new("version", DataType::Int32, false),
        Field::new("latest", DataType::Boolean, false),
        Field::new("title", DataType::Utf8, false),
        Field::new("description", DataType::Utf8, false),
        Field::new("seed", DataType::Utf8, false),
        Field::new("usage", DataType::Utf8, false),
        Field::new("parameters", DataType::Utf8, false),
        Field::new("columns", DataType::Utf8, false),
        Field::new("file", DataType::Utf8, false),
        Field::new("sha256", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        text(&|r, _| r.name.clone()),
        Arc::new(Int32Array::from(
            rows.iter()
                .map(|(r, _)| r.version as i32)
                .collect::<Vec<_>>(),
        )),
        Arc::new(BooleanArray::from(
            rows.iter().map(|(r, _)| r.latest).collect::<Vec<_>>(),
        )),
        text(&|r, _| r.title.clone()),
        text(&|r, _| r.description.clone()),
        text(&|r, _| r.seed.clone()),
        text(&|r, _| r.usage()),
        text(&|r, _| serde_json::to_string(&r.params).unwrap_or_default()),
        text(&|_, s| {
            let cols: Vec<serde_json::Value> = s
                .fields()
                .iter()
                .map(|f| serde_json::json!({"name": f.name(), "type": type_name(f.data_type())}))
                .collect();
            serde_json::Value::Array(cols).to_string()
        }),
        text(&|r, _| r.path()),
        text(&|r, _| crate::sha256_hex(&r.text)),
    ];
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// A column type as users read it.
fn type_name(t: &DataType) -> String {
    match t {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => "text".into(),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => "integer".into(),
        DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => {
            "integer".into()
        }
        DataType::Float32 | DataType::Float64 => "float".into(),
        DataType::Decimal128(p, s) => format!("decimal({p},{s})"),
        DataType::Boolean => "boolean".into(),
        DataType::Date32 | DataType::Date64 => "date".into(),
        DataType::Timestamp(_, None) => "timestamp (local)".into(),
        DataType::Timestamp(_, Some(_)) => "timestamp (UTC)".into(),
        other => other.to_string(),
    }
}

/// A report at given arguments (`None` = the parameter's default).
struct ReportTable {
    report: Arc<Report>,
    args: Vec<Option<ScalarValue>>,
    schema: SchemaRef,
}

impl fmt::Debug for ReportTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportTable")
            .field("report", &self.report.versioned_name())
            .field("args", &self.args)
            .finish()
    }
}

#[async_trait]
impl TableProvider for ReportTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::View
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[datafusion::logical_expr::Expr],
        _limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(state) = state.as_any().downcast_ref::<SessionState>() else {
            return plan_err!("reports need a DataFusion SessionState");
        };
        let plan = plan_report(state, &self.report, &self.args).await?;
        let planned = plan.schema().as_arrow();
        let same = planned.fields().len() == self.schema.fields().len()
            && planned
                .fields()
                .iter()
                .zip(self.schema.fields())
                .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type());
        if !same {
            return plan_err!(
                "report {}: with these arguments its columns would be {planned}, not {}",
                self.report.versioned_name(),
                self.schema
            );
        }
        let plan = match projection {
            Some(p) => LogicalPlanBuilder::from(plan)
                .select(p.iter().copied())?
                .build()?,
            None => plan,
        };
        // The caller's query optimizes its whole physical plan, this report's part included:
        // the part is planned here without the physical optimizer, as a view's would be.
        // (Optimizing it twice breaks rules that must run once, such as join swapping after
        // dynamic filters exist.)
        let once = SessionStateBuilder::new_from_existing(state.clone())
            .with_physical_optimizer_rules(vec![])
            .build();
        let physical = once.create_physical_plan(&plan).await?;
        let want = match projection {
            Some(p) => Arc::new(self.schema.project(p)?),
            None => Arc::clone(&self.schema),
        };
        conform(physical, &want)
    }
}

/// Casts a physical plan's columns to the types the report declared, where DataFusion's
/// physical plan chose another representation (Utf8View for Utf8, say) than its logical plan.
fn conform(plan: Arc<dyn ExecutionPlan>, want: &SchemaRef) -> Result<Arc<dyn ExecutionPlan>> {
    let have = plan.schema();
    if have.fields().len() != want.fields().len() {
        return plan_err!(
            "report plan has {} columns, expected {}",
            have.fields().len(),
            want.fields().len()
        );
    }
    if have
        .fields()
        .iter()
        .zip(want.fields())
        .all(|(h, w)| h.data_type() == w.data_type())
    {
        return Ok(plan);
    }
    let mut exprs = Vec::with_capacity(want.fields().len());
    for (i, (h, w)) in have.fields().iter().zip(want.fields()).enumerate() {
        let column: Arc<dyn PhysicalExpr> = Arc::new(Column::new(h.name(), i));
        let e = if h.data_type() == w.data_type() {
            column
        } else {
            cast(column, &have, w.data_type().clone())?
        };
        exprs.push(ProjectionExpr::new(e, w.name().clone()));
    }
    Ok(Arc::new(ProjectionExec::try_new(exprs, plan)?))
}

/// `reports.<name>(args...)`.
struct ReportFunction {
    report: Arc<Report>,
    schema: SchemaRef,
}

impl fmt::Debug for ReportFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportFunction")
            .field("report", &self.report.versioned_name())
            .finish()
    }
}

impl TableFunctionImpl for ReportFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let r = &self.report;
        let exprs = args.exprs();
        if exprs.len() > r.params.len() {
            return plan_err!(
                "reports.{} takes at most {} arguments, got {}: {}",
                r.versioned_name(),
                r.params.len(),
                exprs.len(),
                r.usage()
            );
        }
        let mut values = Vec::with_capacity(r.params.len());
        for (i, p) in r.params.iter().enumerate() {
            let Some(e) = exprs.get(i) else {
                values.push(None);
                continue;
            };
            let what = format!("reports.{}: argument {} ({})", r.name, i + 1, p.name);
            let v = cdrlake_functions::constant_value(args.session(), e, &what)?;
            // Checked now, so a bad value fails when the query is planned.
            literal_sql(p.ty, &v).map_err(|e| DataFusionError::Plan(format!("{what}: {e}")))?;
            values.push((!v.is_null()).then_some(v));
        }
        Ok(Arc::new(ReportTable {
            report: Arc::clone(r),
            args: values,
            schema: Arc::clone(&self.schema),
        }))
    }
}

/// A parameter value as a SQL literal of the parameter's type. Values are cast first, so
/// '2026-03-01' becomes a timestamp and text is quoted: nothing a caller passes is spliced
/// into the query as SQL.
pub fn literal_sql(ty: ParamType, v: &ScalarValue) -> std::result::Result<String, String> {
    if v.is_null() {
        return Ok(format!("CAST(NULL AS {})", ty.sql()));
    }
    let target = match ty {
        ParamType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
        ParamType::Text => DataType::Utf8,
        ParamType::Int => DataType::Int64,
        ParamType::Float => DataType::Float64,
        ParamType::Bool => DataType::Boolean,
    };
    // '2026-03-24T10:05' (no seconds) is a time too.
    let minutes;
    let v = match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::Utf8View(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
            if ty == ParamType::Timestamp
                && s.len() == 16
                && chrono::NaiveDateTime::parse_from_str(
                    &s.replace(' ', "T"),
                    "%Y-%m-%dT%H:%M",
                )
                .is_ok() =>
        {
            minutes = ScalarValue::Utf8(Some(format!("{s}:00")));
            &minutes
        }
        other => other,
    };
    let cast = v
        .cast_to(&target)
        .map_err(|_| format!("'{v}' is not a {}", ty.name()))?;
    Ok(match cast {
        ScalarValue::TimestampMicrosecond(Some(us), _) => {
            let t = chrono::DateTime::from_timestamp_micros(us)
                .ok_or_else(|| format!("'{v}' is out of range"))?
                .naive_utc();
            format!("CAST('{}' AS TIMESTAMP)", t.format("%Y-%m-%dT%H:%M:%S%.6f"))
        }
        ScalarValue::Utf8(Some(s)) => format!("CAST('{}' AS VARCHAR)", s.replace('\'', "''")),
        ScalarValue::Int64(Some(i)) => format!("CAST({i} AS BIGINT)"),
        ScalarValue::Float64(Some(f)) if f.is_finite() => format!("CAST({f:?} AS DOUBLE)"),
        ScalarValue::Boolean(Some(b)) => (if b { "TRUE" } else { "FALSE" }).to_string(),
        other => return Err(format!("'{other}' is not a {}", ty.name())),
    })
}

/// Parses one SQL statement the way the session would, with `reports.<name>(...)` calls
/// rewritten so DataFusion finds them (its planner looks table functions up by the first
/// part of the name only).
pub fn sql_statement(state: &SessionState, text: &str) -> Result<DFStatement> {
    let dialect = state.config().options().sql_parser.dialect;
    let mut stmt = state.sql_to_statement(text, &dialect)?;
    rewrite_report_calls(&mut stmt);
    Ok(stmt)
}

/// Plans a report with the given arguments (`None` = default) in `state`.
pub async fn plan_report(
    state: &SessionState,
    report: &Report,
    args: &[Option<ScalarValue>],
) -> Result<LogicalPlan> {
    let dialect = state.config().options().sql_parser.dialect;
    let mut values: HashMap<String, sql::Expr> = HashMap::new();
    for (i, p) in report.params.iter().enumerate() {
        let text = match args.get(i).cloned().flatten() {
            Some(v) => literal_sql(p.ty, &v)
                .map_err(|e| plan_datafusion_err!("reports.{}: {}: {e}", report.name, p.name))?,
            None => format!("CAST(({}) AS {})", p.default, p.ty.sql()),
        };
        let expr = state.sql_to_expr(&text, &dialect).map_err(|e| {
            plan_datafusion_err!(
                "report {}: parameter {}: {e}",
                report.versioned_name(),
                p.name
            )
        })?;
        values.insert(format!("${}", p.name), sql::Expr::Nested(Box::new(expr)));
    }
    let mut stmt = state.sql_to_statement(&report.body, &dialect)?;
    let mut sub = Substitute {
        values: &values,
        missing: None,
    };
    if let DFStatement::Statement(s) = &mut stmt {
        let _ = s.visit(&mut sub);
    }
    if let Some(m) = sub.missing {
        return plan_err!("report {}: unknown parameter {m}", report.versioned_name());
    }
    rewrite_report_calls(&mut stmt);
    state.statement_to_plan(stmt).await
}

struct Substitute<'a> {
    values: &'a HashMap<String, sql::Expr>,
    missing: Option<String>,
}

impl VisitorMut for Substitute<'_> {
    type Break = ();

    fn post_visit_expr(&mut self, expr: &mut sql::Expr) -> ControlFlow<()> {
        if let sql::Expr::Value(v) = expr
            && let Value::Placeholder(name) = &v.value
        {
            match self.values.get(name) {
                Some(e) => *expr = e.clone(),
                None => self.missing = Some(name.clone()),
            }
        }
        ControlFlow::Continue(())
    }
}

/// Rewrites `reports.x(...)` and `cdrlake.reports.x(...)` table-function calls to the single
/// name `reports.x` they are registered under.
pub fn rewrite_report_calls(stmt: &mut DFStatement) {
    match stmt {
        DFStatement::Statement(s) => {
            let _ = s.visit(&mut Rewrite);
        }
        DFStatement::Explain(e) => rewrite_report_calls(&mut e.statement),
        DFStatement::CopyTo(c) => {
            if let datafusion::sql::parser::CopyToSource::Query(q) = &mut c.source {
                let _ = q.visit(&mut Rewrite);
            }
        }
        _ => {}
    }
}

struct Rewrite;

impl VisitorMut for Rewrite {
    type Break = ();

    fn pre_visit_table_factor(&mut self, tf: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table {
            name,
            args: Some(_),
            ..
        } = tf
        {
            let parts: Vec<String> = name
                .0
                .iter()
                .filter_map(|p| p.as_ident())
                .map(|i| {
                    if i.quote_style.is_some() {
                        i.value.clone()
                    } else {
                        i.value.to_ascii_lowercase()
                    }
                })
                .collect();
            let function = match parts.as_slice() {
                [s, f] if s == REPORTS_SCHEMA => Some(f.clone()),
                [c, s, f] if c == "cdrlake" && s == REPORTS_SCHEMA => Some(f.clone()),
                _ => None,
            };
            if let Some(f) = function {
                *name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(format!(
                    "{REPORTS_SCHEMA}.{f}"
                )))]);
            }
        }
        ControlFlow::Continue(())
    }
}
