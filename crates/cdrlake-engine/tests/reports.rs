//! Every report registers, is listed by reports.catalog and runs, on an empty lake.

use cdrlake_engine::{EngineOptions, open, report_catalog, sql};
use cdrlake_store::Store;
use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::Int64Type;

async fn rows(ctx: &datafusion::prelude::SessionContext, q: &str) -> Vec<RecordBatch> {
    match sql(ctx, q).await {
        Ok(df) => match df.collect().await {
            Ok(b) => b,
            Err(e) => panic!("{q}: {e}"),
        },
        Err(e) => panic!("{q}: {e}"),
    }
}

fn count(batches: &[RecordBatch]) -> i64 {
    batches
        .first()
        .map(|b| b.column(0).as_primitive::<Int64Type>().value(0))
        .unwrap_or(-1)
}

#[tokio::test]
async fn every_report_runs_on_an_empty_lake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().display().to_string()).expect("store");
    let ctx = open(&store, &EngineOptions::default()).await.expect("open");
    let catalog = report_catalog().expect("catalog");
    // Quarantines that never received a row are there, empty.
    let q = rows(&ctx, "SELECT count(*) FROM quarantine_calls").await;
    assert_eq!(count(&q), 0);
    let listed = rows(&ctx, "SELECT count(*) FROM reports.catalog").await;
    assert_eq!(count(&listed) as usize, catalog.reports.len());
    for r in &catalog.reports {
        // Function form with defaults, table form, and the versioned names.
        rows(
            &ctx,
            &format!("SELECT * FROM reports.{}_v{}()", r.name, r.version),
        )
        .await;
        rows(
            &ctx,
            &format!("SELECT * FROM cdrlake.reports.{}_v{}", r.name, r.version),
        )
        .await;
        if r.latest {
            rows(&ctx, &format!("SELECT count(*) FROM reports.{}()", r.name)).await;
            rows(&ctx, &format!("SELECT * FROM reports.{} LIMIT 1", r.name)).await;
        }
    }
}

#[tokio::test]
async fn report_arguments_are_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().display().to_string()).expect("store");
    let ctx = open(&store, &EngineOptions::default()).await.expect("open");
    let err = |q: &'static str| {
        let ctx = ctx.clone();
        async move {
            match sql(&ctx, q).await {
                Ok(df) => df.collect().await.err().map(|e| e.to_string()),
                Err(e) => Some(e.to_string()),
            }
            .unwrap_or_default()
        }
    };
    let e =
        err("SELECT * FROM reports.end_reasons('2026-03-01', '2026-04-01', NULL, 'extra')").await;
    assert!(e.contains("takes at most 3 arguments"), "{e}");
    let e = err("SELECT * FROM reports.end_reasons('March')").await;
    assert!(
        e.contains("argument 1 (from)") && e.contains("not a timestamp"),
        "{e}"
    );
    let e = err("SELECT * FROM reports.end_reasons(now(), (SELECT 1))").await;
    assert!(!e.is_empty(), "a subquery is not a constant");
    // Arguments may be expressions that fold to constants, and the catalog qualifies.
    rows(
        &ctx,
        "SELECT * FROM cdrlake.reports.end_reasons(now() - INTERVAL '7 days', now())",
    )
    .await;
    // A quote in a text argument is a value, never SQL.
    let n = rows(
        &ctx,
        "SELECT count(*) FROM reports.end_reasons(NULL, NULL, 'x''); DROP TABLE calls; --')",
    )
    .await;
    assert_eq!(count(&n), 0);
}
