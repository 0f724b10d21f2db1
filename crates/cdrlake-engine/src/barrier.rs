//! A node that passes its input's rows through unchanged and accepts no filter pushed down
//! from its parents (DataFusion's default for a node that does not say otherwise), so every
//! filter above it stays above it. Two uses: above a scoped scan ([`crate::scope`], so a
//! query's filters run on rows of the scope only) and above the probe side of a join with a
//! whole table ([`crate::joinfilter`], so the join's dynamic filter is not evaluated per row).

use std::fmt;
use std::sync::Arc;

use datafusion::common::exec_err;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::Result;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};

#[derive(Debug)]
pub(crate) struct BarrierExec {
    /// The node's name in plans (`ScopeExec`, `NoJoinFilterExec`).
    name: &'static str,
    /// What EXPLAIN shows after the name.
    detail: String,
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl BarrierExec {
    pub(crate) fn new(
        name: &'static str,
        detail: String,
        input: Arc<dyn ExecutionPlan>,
    ) -> BarrierExec {
        let properties = Arc::new(input.properties().as_ref().clone());
        BarrierExec {
            name,
            detail,
            input,
            properties,
        }
    }
}

impl DisplayAs for BarrierExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.detail)
    }
}

impl ExecutionPlan for BarrierExec {
    fn name(&self) -> &str {
        self.name
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match <[_; 1]>::try_from(children) {
            Ok([child]) => Ok(Arc::new(BarrierExec::new(
                self.name,
                self.detail.clone(),
                child,
            ))),
            Err(_) => exec_err!("{} takes exactly one child", self.name),
        }
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        self.input.execute(partition, context)
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(
            &Arc<dyn datafusion::physical_expr::PhysicalExpr>,
        ) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn benefits_from_input_partitioning(&self) -> Vec<bool> {
        vec![false]
    }
}
