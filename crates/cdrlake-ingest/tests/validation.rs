//! Every validation rule, through a real ingest into a temporary lake: each bad row lands in
//! quarantine with the column, kind and reason expected, good rows land in the Delta table,
//! and nothing is lost.

use std::path::Path;

use arrow::util::display::{ArrayFormatter, FormatOptions};
use cdrlake_ingest::{EXIT_ROWS_QUARANTINED, IngestOptions, ingest};
use cdrlake_store::Store;

/// Runs SQL over the lake and returns the rows as strings ("NULL" for nulls).
async fn rows(store: &Store, sql: &str) -> Vec<Vec<String>> {
    let ctx = cdrlake_engine::open(store, &Default::default())
        .await
        .expect("open engine");
    let batches = ctx
        .sql(sql)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("run");
    let opts = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let fmts: Vec<_> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).expect("formatter"))
            .collect();
        for r in 0..b.num_rows() {
            out.push(fmts.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    out
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write");
}

const HEADER: &str = "tenant_id,call_id,direction,media,caller_number,callee_number,invite_time,answer_time,end_time,duration_s,billable_s,disposition,latitude,user_rating,customer_charge";

/// What a bad row must be quarantined with: (column, kind, reason fragment).
type Expected = (&'static str, &'static str, &'static str);

/// (CSV row, what it is rejected with) — None when the row is valid.
fn call_rows() -> Vec<(&'static str, Option<Expected>)> {
    vec![
        // Valid rows, including normalisation: case of enumerations, national and withheld numbers.
        (
            "t1,ok-1,inbound,audio,+12125550100,+13125550100,2026-01-05T10:00:00Z,2026-01-05T10:00:05Z,2026-01-05T10:01:05Z,65,60,answered,40.7,5,0.012000",
            None,
        ),
        (
            "t1,ok-2,Outbound,AUDIO,(212) 555-0101,2125550102,2026-01-05 10:00:00,,2026-01-05 10:00:20,20,0,Busy,,,",
            None,
        ),
        (
            "t1,ok-3,inbound,video,anonymous,+442079460000,2026-01-05T23:59:59-05:00,,2026-01-06T05:00:10Z,11,0,no_answer,,,",
            None,
        ),
        // Each rule.
        (
            ",bad-tenant,inbound,audio,+12125550100,+13125550100,2026-01-05T10:00:00Z,,2026-01-05T10:00:01Z,1,0,busy,,,",
            Some(("tenant_id", "missing_value", "required value is missing")),
        ),
        (
            "t1,bad-time,inbound,audio,+12125550100,+13125550100,yesterday,,2026-01-05T10:00:01Z,1,0,busy,,,",
            Some((
                "invite_time",
                "wrong_type",
                "cannot read 'yesterday' as timestamp",
            )),
        ),
        (
            "t1,bad-int,inbound,audio,+12125550100,+13125550100,2026-01-05T10:00:00Z,,2026-01-05T10:00:01Z,abc,0,busy,,,",
            Some(("duration_s", "wrong_type", "cannot read 'abc' as int64")),
        ),
        (
            "t1,bad-enum,inbound,audio,+12125550100,+13125550100,2026-01-05T10:00:00Z,,2026-01-05T10:00:01Z,1,0,ANSWERD,,,",
            Some((
                "disposition",
                "not_allowed",
                "'ANSWERD' is not one of answered, busy",
            )),
        ),
        (
            "t1,bad-number,inbound,audio,12-34,+13125550100,2026-01-05T10:00:00Z,,2026-01-05T10:00:01Z,1,0,busy,,,",
            Some((
                "caller_number",
                "invalid_number",
                "'12-34' is not an E.164 number",
            )),
        ),
        (
            "t1,bad-negative,inbound,audio,+12125550100,+13125550100,2026-01-05T10:00:00Z,,2026-01-05T10:00:01Z,-5,0,busy,,,",
            Some(("duration_s", "negative", "-5 is negative")),
        ),
        (
            "t1,bad-lat,inbound,audio,+12125550100,+13125550100,2026-01-05T10:00:00Z,,2026-01-05T10:00:01Z,1,0,busy,95.5,,",
            Some(("latitude", "out_of_range", "95.5 is outside -90 to 90")),
        ),
        (
            "t1,bad-nan,inbound,audio,+12125550100,+13125550100,2026-01-05T10:00:00Z,,2026-01-05T10:00:01Z,1,0,busy,NaN,,",
            Some(("latitude", "out_of_range", "NaN")),
        ),
        (
            "t1,bad-rating,inbound,audio,+12125550100,+13125550100,2026-01-05T10:00:00Z,2026-01-05T10:00:00Z,2026-01-05T10:00:01Z,1,1,answered,,6,",
            Some(("user_rating", "out_of_range", "6 is outside 1 to 5")),
        ),
        (
            "t1,bad-money,inbound,audio,+12125550100,+13125550100,2026-01-05T10:00:00Z,2026-01-05T10:00:00Z,2026-01-05T10:00:01Z,1,1,answered,,,-0.5",
            Some(("customer_charge", "negative", "is negative")),
        ),
        (
            "t1,bad-order,inbound,audio,+12125550100,+13125550100,2026-01-05T10:00:00Z,,2026-01-05T09:59:00Z,1,0,busy,,,",
            Some((
                "end_time",
                "time_order",
                "end_time 2026-01-05T09:59:00Z is before invite_time 2026-01-05T10:00:00Z",
            )),
        ),
        (
            "t1,bad-answer,inbound,audio,+12125550100,+13125550100,2026-01-05T10:00:00Z,,2026-01-05T10:01:00Z,60,60,answered,,,",
            Some((
                "answer_time",
                "inconsistent",
                "answer_time is missing although disposition is 'answered'",
            )),
        ),
        (
            "t1,bad-billable,inbound,audio,+12125550100,+13125550100,2026-01-05T10:00:00Z,,2026-01-05T10:01:00Z,60,30,busy,,,",
            Some((
                "billable_s",
                "inconsistent",
                "billable_s is 30 although disposition is 'busy'",
            )),
        ),
        (
            "t1,ok-1,inbound,audio,+12125550100,+13125550100,2026-01-05T10:00:00Z,,2026-01-05T10:00:01Z,1,0,busy,,,",
            Some((
                "call_id",
                "duplicate_key",
                "duplicate key (call_id) = (ok-1), first seen at row/line 2",
            )),
        ),
        (
            "t1,bad-fields,inbound",
            Some((
                "",
                "malformed",
                "expected 15 fields as in the header, found 3",
            )),
        ),
    ]
}

#[tokio::test]
async fn every_rule_quarantines_with_its_reason_and_nothing_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let cases = call_rows();
    let mut csv = String::from(HEADER);
    csv.push('\n');
    for (row, _) in &cases {
        csv.push_str(row);
        csv.push('\n');
    }
    write(&lake, "landing/calls/batch-1.csv", &csv);
    // A file-level problem: a required column is missing.
    write(
        &lake,
        "landing/calls/no-tenant.csv",
        "call_id,direction\nx,inbound\ny,inbound\n",
    );
    // A file with a column the schema does not have.
    write(
        &lake,
        "landing/calls/extra.csv",
        &format!("{HEADER},bogus\n"),
    );
    // Not a Parquet file at all.
    write(
        &lake,
        "landing/calls/garbage.parquet",
        "this is not parquet",
    );
    // A JSON Lines file: one good row, one broken line, one with an unknown field.
    write(
        &lake,
        "landing/calls/feed.jsonl",
        concat!(
            r#"{"tenant_id":"t2","call_id":"j-1","direction":"inbound","media":"audio","invite_time":"2026-01-05T10:00:00Z","end_time":"2026-01-05T10:00:09Z","duration_s":9,"billable_s":0,"disposition":"busy"}"#,
            "\n{\"tenant_id\": \"t2\", \n",
            r#"{"tenant_id":"t2","call_id":"j-3","colour":"red"}"#,
            "\n"
        ),
    );
    // Tenants: an invalid time zone, and a tenant_id taken from the folder name.
    write(
        &lake,
        "landing/tenants/tenant_id=t9/t.csv",
        "name,time_zone,licenses,retention_days\nNine,America/Chicago,10,365\nBad,Mars/Olympus,10,365\n",
    );

    let store = Store::open(&lake.to_string_lossy()).expect("store");
    let summary = ingest(&store, IngestOptions::default())
        .await
        .expect("ingest");
    assert_eq!(summary.exit_code, EXIT_ROWS_QUARANTINED);

    let calls = summary
        .tables
        .iter()
        .find(|t| t.table == "calls")
        .expect("calls");
    assert_eq!(calls.files_ingested, 5);
    assert_eq!(calls.files_quarantined, 3);

    // Row-level rejects with their line numbers (header is line 1).
    let q = rows(
        &store,
        "SELECT source_row, coalesce(column_name, ''), kind, reason FROM quarantine_calls \
         WHERE source_file = 'landing/calls/batch-1.csv' ORDER BY source_row",
    )
    .await;
    let expected: Vec<(usize, (&str, &str, &str))> = cases
        .iter()
        .enumerate()
        .filter_map(|(i, (_, e))| e.map(|e| (i + 2, e)))
        .collect();
    assert_eq!(q.len(), expected.len(), "quarantine rows: {q:?}");
    for (got, (line, (column, kind, reason))) in q.iter().zip(expected.iter()) {
        assert_eq!(got[0], line.to_string(), "{got:?}");
        assert_eq!(got[1], *column, "{got:?}");
        assert_eq!(got[2], *kind, "{got:?}");
        assert!(
            got[3].contains(reason),
            "line {line}: '{}' lacks '{reason}'",
            got[3]
        );
    }

    // Valid rows, normalised.
    let ok = rows(
        &store,
        "SELECT call_id, direction, media, coalesce(caller_number, 'NULL'), callee_number, disposition, \
         CAST(invite_time AS VARCHAR), CAST(event_date AS VARCHAR) FROM calls ORDER BY call_id",
    )
    .await;
    assert_eq!(
        ok,
        vec![
            vec![
                "j-1",
                "inbound",
                "audio",
                "NULL",
                "NULL",
                "busy",
                "2026-01-05T10:00:00Z",
                "2026-01-05"
            ],
            vec![
                "ok-1",
                "inbound",
                "audio",
                "+12125550100",
                "+13125550100",
                "answered",
                "2026-01-05T10:00:00Z",
                "2026-01-05"
            ],
            vec![
                "ok-2",
                "outbound",
                "audio",
                "+12125550101",
                "+12125550102",
                "busy",
                "2026-01-05T10:00:00Z",
                "2026-01-05"
            ],
            vec![
                "ok-3",
                "inbound",
                "video",
                "NULL",
                "+442079460000",
                "no_answer",
                "2026-01-06T04:59:59Z",
                "2026-01-06"
            ],
        ]
        .into_iter()
        .map(|r| r.into_iter().map(String::from).collect::<Vec<_>>())
        .collect::<Vec<_>>()
    );
    let money = rows(
        &store,
        "SELECT CAST(customer_charge AS VARCHAR) FROM calls WHERE call_id = 'ok-1'",
    )
    .await;
    assert_eq!(money, vec![vec!["0.012000".to_string()]]);

    // Whole-file rejects.
    let files = rows(
        &store,
        "SELECT source_file, coalesce(column_name, ''), kind, reason, rows FROM quarantine_calls \
         WHERE source_row IS NULL ORDER BY source_file",
    )
    .await;
    assert_eq!(files.len(), 3, "{files:?}");
    assert_eq!(files[0][0], "landing/calls/extra.csv");
    assert_eq!(files[0][1], "bogus");
    assert!(
        files[0][3].contains("unknown column 'bogus'"),
        "{:?}",
        files[0]
    );
    assert_eq!(files[1][0], "landing/calls/garbage.parquet");
    assert_eq!(files[1][2], "unreadable_file");
    assert!(
        files[1][3].contains("not a readable Parquet file"),
        "{:?}",
        files[1]
    );
    assert_eq!(files[2][0], "landing/calls/no-tenant.csv");
    assert_eq!(files[2][1], "tenant_id");
    assert!(
        files[2][3].contains("missing required column 'tenant_id'"),
        "{:?}",
        files[2]
    );
    assert_eq!(files[2][4], "2", "both rows of the file are counted");

    // JSON Lines rejects, by line, with the parser's column.
    let json = rows(
        &store,
        "SELECT source_row, coalesce(column_name, ''), reason FROM quarantine_calls \
         WHERE source_file = 'landing/calls/feed.jsonl' ORDER BY source_row",
    )
    .await;
    assert_eq!(json.len(), 2, "{json:?}");
    assert_eq!(json[0][0], "2");
    assert!(
        json[0][2].contains("invalid JSON at column"),
        "{:?}",
        json[0]
    );
    assert_eq!(json[1][0], "3");
    assert_eq!(json[1][1], "colour");

    // Tenants: the folder value fills tenant_id; the bad zone is rejected.
    let tenants = rows(&store, "SELECT tenant_id, name FROM tenants").await;
    assert_eq!(tenants, vec![vec!["t9".to_string(), "Nine".to_string()]]);
    let tz = rows(&store, "SELECT kind, reason FROM quarantine_tenants").await;
    assert_eq!(tz[0][0], "invalid_time_zone");
    assert!(tz[0][1].contains("'Mars/Olympus' is not an IANA time zone"));

    // Nothing lost: every landed row is in the table or counted in quarantine.
    let landed_rows = (cases.len() + 2 + 3) as u64; // batch-1, no-tenant (2), feed (3)
    let table = rows(&store, "SELECT count(*) FROM calls").await[0][0]
        .parse::<u64>()
        .expect("n");
    let quarantined = rows(&store, "SELECT sum(rows) FROM quarantine_calls").await[0][0]
        .parse::<u64>()
        .expect("n");
    assert_eq!(table + quarantined, landed_rows);
    assert_eq!(calls.rows_in, landed_rows);

    // Exactly once: a second run finds nothing new and changes nothing.
    let again = ingest(&store, IngestOptions::default())
        .await
        .expect("ingest again");
    assert_eq!(again.files_ingested, 0);
    assert_eq!(again.files_already_ingested, summary.files_ingested);
    assert_eq!(
        rows(&store, "SELECT count(*) FROM calls").await[0][0],
        table.to_string()
    );
    assert_eq!(
        rows(&store, "SELECT sum(rows) FROM quarantine_calls").await[0][0],
        quarantined.to_string()
    );
}

#[tokio::test]
async fn parquet_integer_timestamps_are_refused_whole() {
    use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use std::sync::Arc;
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let cols: Vec<(&str, ArrayRef)> = vec![
        ("tenant_id", Arc::new(StringArray::from(vec!["t1"]))),
        ("session_id", Arc::new(StringArray::from(vec!["s1"]))),
        ("participants", Arc::new(Int64Array::from(vec![2]))),
        (
            "start_time",
            Arc::new(Int64Array::from(vec![1_767_000_000])),
        ),
        ("message_count", Arc::new(Int64Array::from(vec![3]))),
        ("outcome", Arc::new(StringArray::from(vec!["accepted"]))),
    ];
    let batch = RecordBatch::try_from_iter(cols).expect("batch");
    let path = lake.join("landing/messages/m.parquet");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    let file = std::fs::File::create(&path).expect("create");
    let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None).expect("writer");
    w.write(&batch).expect("write");
    w.close().expect("close");

    let store = Store::open(&lake.to_string_lossy()).expect("store");
    ingest(&store, IngestOptions::default())
        .await
        .expect("ingest");
    let q = rows(
        &store,
        "SELECT column_name, reason, rows FROM quarantine_messages",
    )
    .await;
    assert_eq!(q.len(), 1);
    assert_eq!(q[0][0], "start_time");
    assert!(
        q[0][1].contains("timestamps must be Parquet TIMESTAMP or RFC 3339 text"),
        "{q:?}"
    );
    assert_eq!(q[0][2], "1");
}

#[tokio::test]
async fn local_files_given_as_paths_are_ingested_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let lake = dir.path().join("lake");
    let file = dir.path().join("teams.csv");
    std::fs::write(&file, "tenant_id,team_id,name\nt1,a,Sales\nt1,b,Support\n").expect("write");
    let store = Store::open(&lake.to_string_lossy()).expect("store");
    let opts = || IngestOptions {
        tables: vec![&cdrlake_schema::TEAMS],
        paths: vec![file.clone()],
        progress: None,
        files_per_commit: 10,
        threads: 2,
    };
    let first = ingest(&store, opts()).await.expect("ingest");
    assert_eq!(first.rows_ingested, 2);
    let second = ingest(&store, opts()).await.expect("ingest");
    assert_eq!(second.rows_ingested, 0);
    assert_eq!(second.files_already_ingested, 1);
    assert_eq!(rows(&store, "SELECT count(*) FROM teams").await[0][0], "2");
}
