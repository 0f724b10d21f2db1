//! Landing-to-Delta ingest with validation, quarantine and exactly-once commits.
//!
//! For each table, every landed file not yet ingested is read, validated row by row, and
//! committed in groups of files. Each commit carries one Delta *application transaction*
//! (`txn` action) per source file, with the app id `cdrlake-ingest:<file key>`; a file whose
//! app id is already in the table's log is skipped. The same app ids are committed with the
//! file's rejected rows to the table's quarantine, *before* the data commit. So:
//!
//! - killed before the quarantine commit: nothing of the file is anywhere; it is re-done;
//! - killed between the two commits: the re-run finds the quarantine txn, does not quarantine
//!   the rows again, and commits the data;
//! - killed after the data commit: the file is skipped.
//!
//! Two ingests at once: Delta's conflict checker refuses the second commit that carries an
//! app id the first already committed; the loser drops the files the winner committed and
//! retries with the rest. Data files written by a commit that never landed are unreferenced
//! and removed by `vacuum`.

pub use cdrlake_schema::e164;
pub mod read;
pub mod reject;
pub mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use arrow::array::RecordBatch;
use cdrlake_schema::TableDef;
use cdrlake_store::Store;
use deltalake::kernel::transaction::{CommitBuilder, CommitProperties, TransactionError};
use deltalake::kernel::{Action, Transaction};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{DeltaTable, DeltaTableError};
use futures::StreamExt;
use parquet::file::properties::WriterProperties;
use serde::Serialize;

use crate::read::SourceFile;
use crate::reject::Reject;
use crate::validate::Validated;

/// Files are committed in groups of at most this many valid rows ...
pub const GROUP_ROWS: u64 = 1 << 20;
/// ... or this many files.
pub const GROUP_FILES: usize = 256;
/// How many times a group is retried after a conflicting concurrent commit.
const MAX_CONFLICT_RETRIES: usize = 10;

/// Exit codes of `cdrlake ingest` (documented in `docs/cli.md`).
pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_ROWS_QUARANTINED: i32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("{0}")]
    Store(#[from] cdrlake_store::StoreError),
    #[error("table {table}: {context}: {source}")]
    Delta {
        table: String,
        context: String,
        #[source]
        source: Box<DeltaTableError>,
    },
    #[error("table {table}: {message}")]
    Other { table: String, message: String },
}

fn delta_err(table: &str, context: &str) -> impl FnOnce(DeltaTableError) -> IngestError {
    let table = table.to_string();
    let context = context.to_string();
    move |source| IngestError::Delta {
        table,
        context,
        source: Box::new(source),
    }
}

/// What to ingest.
pub struct IngestOptions {
    /// The tables whose landing folders are scanned.
    pub tables: Vec<&'static TableDef>,
    /// Local files (Parquet, CSV, JSON Lines) to ingest besides the landing folders; they go
    /// to the first table of `tables`.
    pub paths: Vec<PathBuf>,
    /// Progress bar (on a terminal).
    pub progress: Option<indicatif::ProgressBar>,
    /// At most this many files per commit (default [`GROUP_FILES`]).
    pub files_per_commit: usize,
    /// Parallel sort-and-encode tasks per commit; 0 = one per core.
    pub threads: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            tables: cdrlake_schema::TABLES.iter().collect(),
            paths: vec![],
            progress: None,
            files_per_commit: GROUP_FILES,
            threads: 0,
        }
    }
}

/// Counts for one table.
#[derive(Debug, Default, Clone, Serialize)]
pub struct TableSummary {
    pub table: String,
    pub files_found: u64,
    pub files_already_ingested: u64,
    pub files_ingested: u64,
    /// Files that could not be read, or lacked a required column: quarantined whole.
    pub files_quarantined: u64,
    pub bytes_read: u64,
    pub rows_in: u64,
    pub rows_ingested: u64,
    pub rows_quarantined: u64,
    pub commits: u64,
    pub table_version: Option<u64>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct IngestSummary {
    pub tables: Vec<TableSummary>,
    pub files_found: u64,
    pub files_ingested: u64,
    pub files_already_ingested: u64,
    pub files_quarantined: u64,
    pub rows_in: u64,
    pub rows_ingested: u64,
    pub rows_quarantined: u64,
    pub rows_quarantined_by_reason: BTreeMap<String, u64>,
    pub seconds: f64,
    pub exit_code: i32,
}

impl IngestSummary {
    fn finish(&mut self, started: Instant) {
        for t in &self.tables {
            self.files_found += t.files_found;
            self.files_ingested += t.files_ingested;
            self.files_already_ingested += t.files_already_ingested;
            self.files_quarantined += t.files_quarantined;
            self.rows_in += t.rows_in;
            self.rows_ingested += t.rows_ingested;
            self.rows_quarantined += t.rows_quarantined;
        }
        self.seconds = started.elapsed().as_secs_f64();
        self.exit_code = if self.rows_quarantined > 0 || self.files_quarantined > 0 {
            EXIT_ROWS_QUARANTINED
        } else {
            EXIT_OK
        };
    }
}

/// The app id that marks a source file as ingested, in both the table and its quarantine.
pub fn app_id(file_key: &str) -> String {
    format!("cdrlake-ingest:{file_key}")
}

/// Ingests every new landed file (and the given local files) of the selected tables.
pub async fn ingest(store: &Store, opts: IngestOptions) -> Result<IngestSummary, IngestError> {
    let started = Instant::now();
    let mut summary = IngestSummary::default();
    for (i, def) in opts.tables.iter().enumerate() {
        let mut files = read::list_landing(store, def.name)
            .await
            .map_err(|message| IngestError::Other {
                table: def.name.into(),
                message,
            })?;
        if i == 0 {
            for p in &opts.paths {
                let f = SourceFile::from_local(p).map_err(|message| IngestError::Other {
                    table: def.name.into(),
                    message,
                })?;
                files.push(f);
            }
        }
        let mut t = TableIngest::new(store, def).await?;
        t.files_per_commit = opts.files_per_commit.max(1);
        if opts.threads > 0 {
            t.threads = opts.threads;
        }
        let s = t.run(files, opts.progress.as_ref(), &mut summary).await?;
        summary.tables.push(s);
    }
    summary.finish(started);
    Ok(summary)
}

/// One validated source file waiting to be committed.
struct Pending {
    file: SourceFile,
    validated: Validated,
}

struct TableIngest<'a> {
    store: &'a Store,
    def: &'static TableDef,
    table: DeltaTable,
    quarantine: Option<DeltaTable>,
    writer_props: WriterProperties,
    files_per_commit: usize,
    threads: usize,
    /// The table version at which the pending files were found not yet ingested.
    pending_checked_at: Option<u64>,
}

impl<'a> TableIngest<'a> {
    async fn new(store: &'a Store, def: &'static TableDef) -> Result<Self, IngestError> {
        let table = store.open_or_create_table(def).await?;
        Ok(TableIngest {
            store,
            def,
            table,
            quarantine: None,
            writer_props: cdrlake_store::writer_properties(def),
            files_per_commit: GROUP_FILES,
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            pending_checked_at: None,
        })
    }

    async fn run(
        mut self,
        files: Vec<SourceFile>,
        progress: Option<&indicatif::ProgressBar>,
        summary: &mut IngestSummary,
    ) -> Result<TableSummary, IngestError> {
        let mut s = TableSummary {
            table: self.def.name.to_string(),
            files_found: files.len() as u64,
            ..Default::default()
        };
        let todo = self.not_yet_ingested(files).await?;
        s.files_already_ingested = s.files_found - todo.len() as u64;
        if let Some(p) = progress {
            p.set_message(self.def.name);
            p.inc_length(todo.iter().map(|f| f.size).sum());
        }

        let def = self.def;
        let store = self.store.clone();
        let validated = futures::stream::iter(todo)
            .map(move |file| {
                let store = store.clone();
                async move {
                    let outcome = match read::fetch(&store, &file).await {
                        Ok(bytes) => {
                            let f = file.clone();
                            tokio::task::spawn_blocking(move || {
                                read::decode(def, f.format, bytes)
                                    .and_then(|raw| validate::validate_file(def, &f, raw))
                            })
                            .await
                            .unwrap_or_else(|e| {
                                Err(read::FileError::new(format!("validation panicked: {e}")))
                            })
                        }
                        Err(e) => Err(e),
                    };
                    let validated = outcome.unwrap_or_else(|e| Validated {
                        valid: vec![],
                        rows_in: e.rows.unwrap_or(0),
                        rejects: vec![Reject::file(e.column, e.reason, e.rows)],
                    });
                    Pending { file, validated }
                }
            })
            .buffered(2);
        // Reading and validating go on in their own task while this one writes and commits,
        // so both cores stay busy. The channel bounds how far validation runs ahead.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Pending>(2);
        let reader = tokio::spawn(async move {
            let mut validated = std::pin::pin!(validated);
            while let Some(p) = validated.next().await {
                if tx.send(p).await.is_err() {
                    break;
                }
            }
        });

        let mut group: Vec<Pending> = Vec::new();
        let mut group_rows = 0u64;
        while let Some(p) = rx.recv().await {
            if let Some(bar) = progress {
                bar.inc(p.file.size);
            }
            group_rows += p.validated.rows_valid();
            group.push(p);
            if group_rows >= GROUP_ROWS || group.len() >= self.files_per_commit {
                self.commit_group(std::mem::take(&mut group), &mut s, summary)
                    .await?;
                group_rows = 0;
            }
        }
        if !group.is_empty() {
            self.commit_group(group, &mut s, summary).await?;
        }
        reader.await.map_err(|e| IngestError::Other {
            table: def.name.into(),
            message: format!("file reader failed: {e}"),
        })?;
        s.table_version = self.reload(self.store.table_url(def.name)).await?.version();
        Ok(s)
    }

    /// Loads a table afresh from its log.
    async fn reload(&self, url: url::Url) -> Result<DeltaTable, IngestError> {
        self.store
            .open_delta(&url)
            .await?
            .ok_or_else(|| IngestError::Other {
                table: self.def.name.into(),
                message: format!("{url} disappeared during ingest"),
            })
    }

    /// Drops the files whose app id the table already has.
    async fn not_yet_ingested(
        &mut self,
        files: Vec<SourceFile>,
    ) -> Result<Vec<SourceFile>, IngestError> {
        self.pending_checked_at = self.table.version();
        let done = committed_keys(&self.table, files.iter().map(|f| f.key.clone()).collect())
            .await
            .map_err(delta_err(self.def.name, "reading ingested files"))?;
        Ok(files
            .into_iter()
            .filter(|f| !done.contains(&f.key))
            .collect())
    }

    async fn commit_group(
        &mut self,
        mut group: Vec<Pending>,
        s: &mut TableSummary,
        summary: &mut IngestSummary,
    ) -> Result<(), IngestError> {
        // `self.table` stays at the version against which the pending files were found not yet
        // ingested. Committing on that read snapshot makes Delta check every later commit,
        // ours and others', for the app ids of this group: a file another ingest committed in
        // the meantime is a conflict, never a second copy. After a conflict the table is
        // reloaded, and from then on each group is re-checked against the version it commits
        // on, since Delta only checks the commits after that.
        for attempt in 0..=MAX_CONFLICT_RETRIES {
            if attempt > 0 {
                self.table = self.reload(self.store.table_url(self.def.name)).await?;
            }
            if self.table.version() != self.pending_checked_at {
                let done = committed_keys(
                    &self.table,
                    group.iter().map(|p| p.file.key.clone()).collect(),
                )
                .await
                .map_err(delta_err(self.def.name, "reading ingested files"))?;
                let before = group.len();
                group.retain(|p| !done.contains(&p.file.key));
                s.files_already_ingested += (before - group.len()) as u64;
                if group.is_empty() {
                    return Ok(());
                }
            }
            self.quarantine_group(&group).await?;
            if self.append_group(&group).await?.is_some() {
                for p in &group {
                    let v = &p.validated;
                    s.files_ingested += 1;
                    s.bytes_read += p.file.size;
                    s.rows_in += v.rows_in;
                    s.rows_ingested += v.rows_valid();
                    s.rows_quarantined += v.rows_rejected();
                    if v.rejects.iter().any(|r| r.source_row.is_none()) {
                        s.files_quarantined += 1;
                    }
                    for r in &v.rejects {
                        *summary
                            .rows_quarantined_by_reason
                            .entry(r.kind.as_str().to_string())
                            .or_default() += r.rows.max(0) as u64;
                    }
                }
                s.commits += 1;
                return Ok(());
            }
        }
        Err(IngestError::Other {
            table: self.def.name.into(),
            message: format!(
                "gave up after {MAX_CONFLICT_RETRIES} conflicting concurrent commits; run ingest again"
            ),
        })
    }

    /// Commits the rejects of the group's files to quarantine, unless a previous run did.
    async fn quarantine_group(&mut self, group: &[Pending]) -> Result<(), IngestError> {
        let with_rejects: Vec<&Pending> = group
            .iter()
            .filter(|p| !p.validated.rejects.is_empty())
            .collect();
        if with_rejects.is_empty() {
            return Ok(());
        }
        let name = self.def.name;
        for _ in 0..=MAX_CONFLICT_RETRIES {
            let q = match self.quarantine.as_mut() {
                Some(q) => q,
                None => self
                    .quarantine
                    .insert(self.store.open_or_create_quarantine(name).await?),
            };
            let done = committed_keys(q, with_rejects.iter().map(|p| p.file.key.clone()).collect())
                .await
                .map_err(delta_err(name, "reading quarantine"))?;
            let todo: Vec<&&Pending> = with_rejects
                .iter()
                .filter(|p| !done.contains(&p.file.key))
                .collect();
            if todo.is_empty() {
                return Ok(());
            }
            let now = now_micros();
            let mut batches = Vec::with_capacity(todo.len());
            for p in &todo {
                batches.push(
                    reject::quarantine_batch(&p.file.key, &p.validated.rejects, now).map_err(
                        |e| IngestError::Other {
                            table: name.into(),
                            message: format!("building quarantine rows: {e}"),
                        },
                    )?,
                );
            }
            let keys: Vec<&str> = todo.iter().map(|p| p.file.key.as_str()).collect();
            let props = cdrlake_store::quarantine_writer_properties();
            if write_and_commit(q, vec![batches], None, &keys, props, name, "quarantine")
                .await?
                .is_some()
            {
                return Ok(());
            }
            // A conflict (another ingest, or our own earlier attempt): look again at a fresh copy.
            let fresh = self.reload(self.store.quarantine_url(name)).await?;
            self.quarantine = Some(fresh);
        }
        Err(IngestError::Other {
            table: name.into(),
            message: "gave up committing quarantine after repeated conflicts; run ingest again"
                .into(),
        })
    }

    /// Appends the group's valid rows, sorted, in one commit that marks every file of the
    /// group as ingested. Returns false on a conflicting concurrent commit.
    async fn append_group(&mut self, group: &[Pending]) -> Result<Option<u64>, IngestError> {
        // One shard per core, balanced by rows: each is sorted and encoded by its own task.
        let mut shards: Vec<(usize, Vec<RecordBatch>)> =
            (0..self.threads.max(1)).map(|_| (0, vec![])).collect();
        for p in group {
            let rows: usize = p.validated.valid.iter().map(|b| b.num_rows()).sum();
            if let Some(smallest) = shards.iter_mut().min_by_key(|s| s.0) {
                smallest.0 += rows;
                smallest.1.extend(p.validated.valid.iter().cloned());
            }
        }
        let keys: Vec<&str> = group.iter().map(|p| p.file.key.as_str()).collect();
        write_and_commit(
            &mut self.table,
            shards.into_iter().map(|s| s.1).collect(),
            Some(self.def),
            &keys,
            self.writer_props.clone(),
            self.def.name,
            "ingest",
        )
        .await
    }
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Which of `keys` the table's log has an ingest app id for.
async fn committed_keys(
    table: &DeltaTable,
    keys: Vec<String>,
) -> Result<std::collections::HashSet<String>, DeltaTableError> {
    let snapshot = table.snapshot()?;
    let log_store = table.log_store();
    let results: Vec<Result<Option<String>, DeltaTableError>> = futures::stream::iter(keys)
        .map(|k| {
            let log_store = log_store.clone();
            async move {
                let v = snapshot
                    .transaction_version(log_store.as_ref(), app_id(&k))
                    .await?;
                Ok(v.map(|_| k))
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut done = std::collections::HashSet::new();
    for r in results {
        if let Some(k) = r? {
            done.insert(k);
        }
    }
    Ok(done)
}

/// Writes the batches as data files and commits them with one app id per source file.
/// Returns the committed version, or None when a concurrent commit conflicts (the caller
/// reloads and retries). The table's state is not reloaded.
#[allow(clippy::too_many_arguments)]
async fn write_and_commit(
    table: &mut DeltaTable,
    shards: Vec<Vec<RecordBatch>>,
    sort_by: Option<&'static TableDef>,
    file_keys: &[&str],
    props: WriterProperties,
    table_name: &str,
    operation: &str,
) -> Result<Option<u64>, IngestError> {
    let mut actions: Vec<Action> = Vec::new();
    let rows: usize = shards.iter().flatten().map(|b| b.num_rows()).sum();
    // Each shard is sorted and encoded into Parquet by its own task, so encoding (the most
    // expensive step) uses every core; the commit below covers all of them atomically.
    let mut tasks = Vec::new();
    for shard in shards
        .into_iter()
        .filter(|s| s.iter().any(|b| b.num_rows() > 0))
    {
        let mut writer = RecordBatchWriter::for_table(table)
            .map_err(delta_err(table_name, "opening a writer"))?
            .with_writer_properties(props.clone());
        tasks.push(tokio::spawn(async move {
            let batches = match sort_by {
                Some(def) => cdrlake_store::sort_rows(def, shard)
                    .map_err(|e| format!("sorting rows: {e}"))?
                    .into_iter()
                    .collect(),
                None => shard,
            };
            for b in batches {
                writer
                    .write(b)
                    .await
                    .map_err(|e| format!("writing data files: {e}"))?;
            }
            writer
                .flush()
                .await
                .map_err(|e| format!("writing data files: {e}"))
        }));
    }
    for t in tasks {
        let adds = t
            .await
            .map_err(|e| format!("writer task failed: {e}"))
            .and_then(|r| r)
            .map_err(|message| IngestError::Other {
                table: table_name.into(),
                message,
            })?;
        actions.extend(adds.into_iter().map(Action::Add));
    }
    let now_ms = now_micros() / 1000;
    let txns: Vec<Transaction> = file_keys
        .iter()
        .map(|k| Transaction::new_with_last_update(app_id(k), 1, Some(now_ms)))
        .collect();
    let metadata = [
        (
            "cdrlake.operation".to_string(),
            serde_json::json!(operation),
        ),
        ("cdrlake.files".to_string(), serde_json::json!(file_keys)),
        ("cdrlake.rows".to_string(), serde_json::json!(rows)),
        (
            "cdrlake.pid".to_string(),
            serde_json::json!(std::process::id()),
        ),
    ];
    let partition_cols: Vec<String> = table
        .snapshot()
        .map_err(delta_err(table_name, "reading the snapshot"))?
        .metadata()
        .partition_columns()
        .to_vec();
    let op = DeltaOperation::Write {
        mode: SaveMode::Append,
        partition_by: (!partition_cols.is_empty()).then_some(partition_cols),
        predicate: None,
    };
    let props = CommitProperties::default()
        .with_application_transactions(txns)
        .with_metadata(metadata);
    let result = CommitBuilder::from(props)
        .with_actions(actions)
        .build(
            Some(
                table
                    .snapshot()
                    .map_err(delta_err(table_name, "reading the snapshot"))?,
            ),
            table.log_store(),
            op,
        )
        .await;
    match result {
        Ok(done) => Ok(Some(done.version())),
        Err(DeltaTableError::Transaction {
            source: TransactionError::CommitConflict(_),
        }) => Ok(None),
        Err(e) => Err(delta_err(table_name, "committing")(e)),
    }
}
