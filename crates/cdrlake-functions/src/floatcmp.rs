//! Float columns compared with decimal literals are compared as floats.
//!
//! cdrlake parses `0.1` as an exact decimal (money is decimal). DataFusion's type coercion
//! then compares `jitter_avg_ms > 30.0` by casting every float value to `Decimal128(30, 15)`:
//! a float-to-decimal conversion per row (the largest cost of a scan of stream metrics), no
//! statistics pruning (the column sits under a cast), and a comparison of the float rounded
//! to 15 decimals rather than of its value. PostgreSQL and DuckDB compare a double with a
//! numeric as doubles; this analyzer rule (run after type coercion) does the same: the
//! literal becomes the nearest `Float64` and the column is compared as it is.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result, ScalarValue};
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::{BinaryExpr, Cast, Expr, ExprSchemable, LogicalPlan, Operator};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct FloatComparisons;

impl AnalyzerRule for FloatComparisons {
    fn name(&self) -> &str {
        "cdrlake_float_comparisons"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            let mut schema = DFSchema::empty();
            for input in node.inputs() {
                schema.merge(input.schema());
            }
            if let LogicalPlan::TableScan(scan) = &node {
                schema.merge(&scan.projected_schema);
            }
            // Rewritten expressions keep their names: an aggregate's or projection's output
            // column is named after its expression, and the plan above refers to it by name.
            let names = NamePreserver::new(&node);
            node.map_expressions(|e| {
                let name = names.save(&e);
                Ok(e.transform_up(|e| rewrite(e, &schema))?
                    .update_data(|e| name.restore(e)))
            })
        })
        .map(|t| t.data)
    }
}

pub(crate) fn rule() -> Arc<FloatComparisons> {
    Arc::new(FloatComparisons)
}

fn is_comparison(op: Operator) -> bool {
    matches!(
        op,
        Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
    )
}

fn rewrite(e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Expr::BinaryExpr(BinaryExpr { left, op, right }) = &e else {
        return Ok(Transformed::no(e));
    };
    if !is_comparison(*op) {
        return Ok(Transformed::no(e));
    }
    if let (Some(float), Some(value)) = (float_under_decimal_cast(left, schema), decimal(right)) {
        return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
            Box::new(float),
            *op,
            Box::new(value),
        ))));
    }
    if let (Some(value), Some(float)) = (decimal(left), float_under_decimal_cast(right, schema)) {
        return Ok(Transformed::yes(Expr::BinaryExpr(BinaryExpr::new(
            Box::new(value),
            *op,
            Box::new(float),
        ))));
    }
    Ok(Transformed::no(e))
}

/// `x` when the expression is `CAST(x AS DECIMAL(..))` and `x` is a Float64.
fn float_under_decimal_cast(e: &Expr, schema: &DFSchema) -> Option<Expr> {
    let Expr::Cast(Cast { expr, field }) = e else {
        return None;
    };
    if !matches!(
        field.data_type(),
        DataType::Decimal32(..)
            | DataType::Decimal64(..)
            | DataType::Decimal128(..)
            | DataType::Decimal256(..)
    ) {
        return None;
    }
    match expr.get_type(schema) {
        Ok(DataType::Float64) => Some(expr.as_ref().clone()),
        _ => None,
    }
}

/// A non-NULL decimal literal (or, as type coercion leaves it, a literal cast to a decimal)
/// as the nearest Float64 literal.
fn decimal(e: &Expr) -> Option<Expr> {
    let v = match e {
        Expr::Literal(v, _) => v.clone(),
        Expr::Cast(Cast { expr, field }) => match expr.as_ref() {
            Expr::Literal(v, _) if v.data_type().is_decimal() => {
                v.cast_to(field.data_type()).ok()?
            }
            _ => return None,
        },
        _ => return None,
    };
    let text = match &v {
        ScalarValue::Decimal32(Some(_), ..)
        | ScalarValue::Decimal64(Some(_), ..)
        | ScalarValue::Decimal128(Some(_), ..)
        | ScalarValue::Decimal256(Some(_), ..) => v.to_string(),
        _ => return None,
    };
    // The decimal's exact digits, rounded once to the nearest double.
    let f: f64 = text.parse().ok()?;
    Some(Expr::Literal(ScalarValue::Float64(Some(f)), None))
}
