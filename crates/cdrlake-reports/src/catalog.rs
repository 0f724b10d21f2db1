//! Report files: their header, their versions, and the lock that keeps published versions
//! from changing.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// Where reports live in the source tree (for messages).
pub const REPORTS_DIR: &str = "sql/reports";
/// The lock file of published versions (for messages).
pub const LOCK_FILE: &str = "sql/reports.lock";

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("{file}:{line}: {message}")]
    Header {
        file: String,
        line: usize,
        message: String,
    },
    #[error("{file}: {message}")]
    File { file: String, message: String },
    #[error("{LOCK_FILE}:{line}: {message}")]
    Lock { line: usize, message: String },
}

/// The type of a report parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    /// A local (tenant time zone) date and time, without time zone.
    Timestamp,
    Text,
    Int,
    Float,
    Bool,
}

impl ParamType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "timestamp" => ParamType::Timestamp,
            "text" => ParamType::Text,
            "int" => ParamType::Int,
            "float" => ParamType::Float,
            "bool" => ParamType::Bool,
            _ => return None,
        })
    }

    /// The SQL type a value is cast to.
    pub fn sql(self) -> &'static str {
        match self {
            ParamType::Timestamp => "TIMESTAMP",
            ParamType::Text => "VARCHAR",
            ParamType::Int => "BIGINT",
            ParamType::Float => "DOUBLE",
            ParamType::Bool => "BOOLEAN",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ParamType::Timestamp => "timestamp",
            ParamType::Text => "text",
            ParamType::Int => "int",
            ParamType::Float => "float",
            ParamType::Bool => "bool",
        }
    }
}

/// One parameter of a report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Param {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ParamType,
    /// A SQL expression, evaluated when the report runs (`NULL` means "no filter").
    pub default: String,
    pub description: String,
}

/// One version of one report.
#[derive(Debug, Clone)]
pub struct Report {
    pub name: String,
    pub version: u32,
    pub title: String,
    pub description: String,
    /// Which seed document and report it implements.
    pub seed: String,
    pub params: Vec<Param>,
    /// The query, with `$param` placeholders.
    pub body: String,
    /// The whole file, as hashed by the lock.
    pub text: String,
    /// Whether this is the newest version of its report.
    pub latest: bool,
    /// Whether the lock file records this version.
    pub published: bool,
}

impl Report {
    /// `name_vN`, the versioned SQL name (without the `reports.` schema).
    pub fn versioned_name(&self) -> String {
        format!("{}_v{}", self.name, self.version)
    }

    /// The file this version came from, relative to the repository.
    pub fn path(&self) -> String {
        format!("{REPORTS_DIR}/{}/v{}.sql", self.name, self.version)
    }

    /// How to call it: `reports.name(from, to, ...)`.
    pub fn usage(&self) -> String {
        let names: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
        format!("reports.{}({})", self.name, names.join(", "))
    }

    pub fn param(&self, name: &str) -> Option<(usize, &Param)> {
        self.params.iter().enumerate().find(|(_, p)| p.name == name)
    }
}

/// The hex SHA-256 of a report file, as the lock records it.
pub fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest.iter() {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Every report version, in name then version order.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub reports: Vec<Arc<Report>>,
}

mod files {
    include!(concat!(env!("OUT_DIR"), "/files.rs"));
}

impl Catalog {
    /// The reports compiled into this build from `sql/reports`, checked against the lock.
    pub fn builtin() -> Result<Catalog, ReportError> {
        Catalog::from_files(files::FILES, files::LOCK)
    }

    /// The reports under `<sql_dir>/reports`, checked against `<sql_dir>/reports.lock`: for
    /// developing reports without rebuilding (`CDRLAKE_SQL_DIR`).
    pub fn from_dir(sql_dir: &std::path::Path) -> Result<Catalog, ReportError> {
        let io = |p: &std::path::Path, e: std::io::Error| ReportError::File {
            file: p.display().to_string(),
            message: e.to_string(),
        };
        let root = sql_dir.join("reports");
        let mut owned: Vec<(String, String, String)> = Vec::new();
        for dir in std::fs::read_dir(&root).map_err(|e| io(&root, e))? {
            let dir = dir.map_err(|e| io(&root, e))?;
            if !dir.path().is_dir() {
                continue;
            }
            let name = dir.file_name().to_string_lossy().to_string();
            for f in std::fs::read_dir(dir.path()).map_err(|e| io(&dir.path(), e))? {
                let f = f.map_err(|e| io(&dir.path(), e))?;
                let text = std::fs::read_to_string(f.path()).map_err(|e| io(&f.path(), e))?;
                owned.push((
                    name.clone(),
                    f.file_name().to_string_lossy().to_string(),
                    text,
                ));
            }
        }
        let lock_path = sql_dir.join("reports.lock");
        let lock = match std::fs::read_to_string(&lock_path) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(&lock_path, e)),
        };
        let files: Vec<(&str, &str, &str)> = owned
            .iter()
            .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
            .collect();
        Catalog::from_files(&files, lock.as_deref())
    }

    /// Builds a catalog from (report directory, file name, text) triples and the lock text.
    pub fn from_files(
        files: &[(&str, &str, &str)],
        lock: Option<&str>,
    ) -> Result<Catalog, ReportError> {
        let mut by_name: BTreeMap<String, BTreeMap<u32, Report>> = BTreeMap::new();
        for (dir, file, text) in files {
            let path = format!("{REPORTS_DIR}/{dir}/{file}");
            if file.starts_with('.') || file.eq_ignore_ascii_case("README.md") {
                continue;
            }
            check_name(dir, &path)?;
            let version = file
                .strip_prefix('v')
                .and_then(|v| v.strip_suffix(".sql"))
                .and_then(|v| v.parse::<u32>().ok())
                .filter(|v| *v > 0 && !file.starts_with("v0"))
                .ok_or_else(|| ReportError::File {
                    file: path.clone(),
                    message: "report files are named v1.sql, v2.sql, ...".into(),
                })?;
            let report = parse(dir, version, text, &path)?;
            by_name
                .entry(dir.to_string())
                .or_default()
                .insert(version, report);
        }
        for (name, versions) in &by_name {
            for (i, v) in versions.keys().enumerate() {
                if *v as usize != i + 1 {
                    return Err(ReportError::File {
                        file: format!("{REPORTS_DIR}/{name}/v{v}.sql"),
                        message: format!(
                            "versions of {name} must be v1, v2, ... without gaps; v{} is missing",
                            i + 1
                        ),
                    });
                }
            }
        }
        let locked = parse_lock(lock.unwrap_or(""))?;
        for ((name, version), (hash, line)) in &locked {
            let Some(report) = by_name.get_mut(name).and_then(|v| v.get_mut(version)) else {
                return Err(ReportError::Lock {
                    line: *line,
                    message: format!(
                        "{name} v{version} was published but {REPORTS_DIR}/{name}/v{version}.sql \
                         is gone; a published version is never removed"
                    ),
                });
            };
            let actual = sha256_hex(&report.text);
            if &actual != hash {
                return Err(ReportError::File {
                    file: report.path(),
                    message: format!(
                        "changed after it was published (the lock records sha256 {hash}, the \
                         file now hashes to {actual}); a published version never changes: \
                         restore it and put the change in v{}",
                        versions_of(&by_name, name) + 1
                    ),
                });
            }
            report.published = true;
        }
        let mut reports = Vec::new();
        for versions in by_name.into_values() {
            let last = versions.keys().copied().max().unwrap_or(0);
            for (v, mut r) in versions {
                r.latest = v == last;
                reports.push(Arc::new(r));
            }
        }
        Ok(Catalog { reports })
    }

    /// A report by name: the given version, or the latest.
    pub fn get(&self, name: &str, version: Option<u32>) -> Option<Arc<Report>> {
        self.reports
            .iter()
            .find(|r| r.name == name && version.map_or(r.latest, |v| v == r.version))
            .cloned()
    }

    /// The newest version of every report.
    pub fn latest(&self) -> impl Iterator<Item = &Arc<Report>> {
        self.reports.iter().filter(|r| r.latest)
    }

    /// Versions the lock does not record yet.
    pub fn unpublished(&self) -> Vec<&Arc<Report>> {
        self.reports.iter().filter(|r| !r.published).collect()
    }

    /// The lock file that publishes every version of this catalog.
    pub fn lock_text(&self) -> String {
        let mut out = String::from(
            "# Published report versions: name, version, SHA-256 of sql/reports/<name>/v<N>.sql.\n\
             # A published version never changes and is never removed; a change is a new version.\n\
             # Publish new versions with scripts/publish-reports.\n",
        );
        for r in &self.reports {
            let _ = writeln!(out, "{} v{} {}", r.name, r.version, sha256_hex(&r.text));
        }
        out
    }
}

fn versions_of(by_name: &BTreeMap<String, BTreeMap<u32, Report>>, name: &str) -> u32 {
    by_name
        .get(name)
        .and_then(|v| v.keys().max().copied())
        .unwrap_or(0)
}

fn check_name(dir: &str, path: &str) -> Result<(), ReportError> {
    let ok = dir.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && dir
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    let versioned = dir
        .rsplit_once("_v")
        .is_some_and(|(_, v)| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()));
    if !ok || versioned || dir == "catalog" {
        return Err(ReportError::File {
            file: path.to_string(),
            message: format!(
                "report name '{dir}' must be snake_case (a-z, 0-9, _), must not end in _v<N> \
                 and must not be 'catalog'"
            ),
        });
    }
    Ok(())
}

type Locked = BTreeMap<(String, u32), (String, usize)>;

fn parse_lock(text: &str) -> Result<Locked, ReportError> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let parts: Vec<&str> = line.split_whitespace().collect();
        let bad = |m: &str| ReportError::Lock {
            line: line_no,
            message: m.to_string(),
        };
        let [name, version, hash] = parts.as_slice() else {
            return Err(bad("expected 'name vN sha256'"));
        };
        let version = version
            .strip_prefix('v')
            .and_then(|v| v.parse::<u32>().ok())
            .ok_or_else(|| bad("the version must look like v1"))?;
        if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(bad("the hash must be 64 hex digits"));
        }
        if out
            .insert(
                (name.to_string(), version),
                (hash.to_ascii_lowercase(), line_no),
            )
            .is_some()
        {
            return Err(bad("this version is listed twice"));
        }
    }
    Ok(out)
}

/// Parses a report file: `-- @key value` header lines, then the query.
fn parse(name: &str, version: u32, text: &str, path: &str) -> Result<Report, ReportError> {
    let mut fields: Vec<(String, String, usize)> = Vec::new();
    let mut body_start = None;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let trimmed = line.trim();
        if let Some(comment) = trimmed.strip_prefix("--") {
            let comment = comment.trim();
            if let Some(rest) = comment.strip_prefix('@') {
                let (key, value) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                fields.push((key.to_string(), value.trim().to_string(), i + 1));
            } else if let Some(last) = fields.last_mut()
                && !comment.is_empty()
            {
                last.1.push(' ');
                last.1.push_str(comment);
            }
        } else if !trimmed.is_empty() {
            body_start = Some(offset);
            break;
        }
        offset += line.len();
    }
    let err = |line: usize, message: String| ReportError::Header {
        file: path.to_string(),
        line,
        message,
    };
    let Some(start) = body_start else {
        return Err(err(1, "the file has a header but no query".into()));
    };
    let body = text[start..]
        .trim()
        .trim_end_matches(';')
        .trim()
        .to_string();
    let mut title = None;
    let mut description = None;
    let mut seed = None;
    let mut params: Vec<Param> = Vec::new();
    for (key, value, line) in fields {
        match key.as_str() {
            "title" => title = Some(value),
            "description" => description = Some(value),
            "seed" => seed = Some(value),
            "param" => {
                let parts: Vec<&str> = value.splitn(4, '|').map(str::trim).collect();
                let [pname, ty, default, desc] = parts.as_slice() else {
                    return Err(err(
                        line,
                        "a parameter is '@param name | type | default SQL | description'".into(),
                    ));
                };
                let Some(ty) = ParamType::parse(ty) else {
                    return Err(err(
                        line,
                        format!(
                            "parameter {pname}: type '{ty}' is not one of timestamp, text, int, float, bool"
                        ),
                    ));
                };
                if !pname
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                    || pname.is_empty()
                {
                    return Err(err(
                        line,
                        format!("parameter name '{pname}' must be snake_case"),
                    ));
                }
                if params.iter().any(|p| p.name == *pname) {
                    return Err(err(line, format!("parameter {pname} is declared twice")));
                }
                if default.is_empty() {
                    return Err(err(
                        line,
                        format!("parameter {pname} needs a default (NULL for 'no filter')"),
                    ));
                }
                params.push(Param {
                    name: pname.to_string(),
                    ty,
                    default: default.to_string(),
                    description: desc.to_string(),
                });
            }
            other => {
                return Err(err(
                    line,
                    format!("unknown header field @{other} (title, description, seed, param)"),
                ));
            }
        }
    }
    let need = |v: Option<String>, what: &str| {
        v.filter(|s| !s.is_empty())
            .ok_or_else(|| err(1, format!("the header needs -- @{what}")))
    };
    let title = need(title, "title")?;
    let description = need(description, "description")?;
    let seed = need(seed, "seed")?;
    let used = placeholders(&body);
    for p in &params {
        if !used.contains(p.name.as_str()) {
            return Err(err(
                1,
                format!(
                    "parameter {} is declared but the query never uses ${}",
                    p.name, p.name
                ),
            ));
        }
    }
    for u in &used {
        if !params.iter().any(|p| p.name == *u) {
            return Err(err(
                1,
                format!("the query uses ${u}, which is not a declared @param"),
            ));
        }
    }
    Ok(Report {
        name: name.to_string(),
        version,
        title,
        description,
        seed,
        params,
        body,
        text: text.to_string(),
        latest: false,
        published: false,
    })
}

/// `$name` placeholders in a query, outside string literals and comments.
fn placeholders(sql: &str) -> BTreeSet<&str> {
    let mut out = BTreeSet::new();
    let bytes = sql.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'\'' {
                    i += 1;
                }
                i += 1;
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'$' => {
                let start = i + 1;
                let mut j = start;
                while j < bytes.len() && (bytes[j].is_ascii_alphanumeric() || bytes[j] == b'_') {
                    j += 1;
                }
                if j > start {
                    out.insert(&sql[start..j]);
                }
                i = j;
            }
            _ => i += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const V1: &str = "-- @title T\n-- @description D\n--   more\n-- @seed S\n\
                      -- @param from | timestamp | now() | Start.\nSELECT $from AS f;\n";

    #[test]
    fn parses_header_and_body() {
        let c = Catalog::from_files(&[("t", "v1.sql", V1)], None).map_err(|e| e.to_string());
        let c = c.as_ref().map(|c| &c.reports[0]);
        assert_eq!(c.map(|r| r.description.as_str()), Ok("D more"));
        assert_eq!(c.map(|r| r.body.as_str()), Ok("SELECT $from AS f"));
        assert_eq!(c.map(|r| r.params[0].default.as_str()), Ok("now()"));
    }

    #[test]
    fn lock_refuses_a_change_and_a_removal() {
        let lock = format!("t v1 {}\n", sha256_hex(V1));
        assert!(Catalog::from_files(&[("t", "v1.sql", V1)], Some(&lock)).is_ok());
        let changed = V1.replace("AS f", "AS g");
        let e = Catalog::from_files(&[("t", "v1.sql", &changed)], Some(&lock))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("changed after it was published"), "{e}");
        assert!(e.contains("put the change in v2"), "{e}");
        let e = Catalog::from_files(&[], Some(&lock))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("never removed"), "{e}");
    }

    #[test]
    fn header_errors_say_where() {
        let bad = V1.replace("| timestamp |", "| date |");
        let e = Catalog::from_files(&[("t", "v1.sql", &bad)], None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert_eq!(
            e,
            "sql/reports/t/v1.sql:5: parameter from: type 'date' is not one of timestamp, text, int, float, bool"
        );
        let unused = V1.replace("SELECT $from AS f", "SELECT 1");
        assert!(Catalog::from_files(&[("t", "v1.sql", &unused)], None).is_err());
        let gap = Catalog::from_files(&[("t", "v1.sql", V1), ("t", "v3.sql", V1)], None);
        assert!(gap.is_err());
        let versioned_name = Catalog::from_files(&[("t_v2", "v1.sql", V1)], None);
        assert!(versioned_name.is_err());
    }

    /// The reports in sql/reports agree with sql/reports.lock, and every version is published.
    #[test]
    fn builtin_reports_are_published_and_unchanged() {
        let c = Catalog::builtin();
        let c = match c {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        assert!(!c.reports.is_empty());
        let new: Vec<String> = c.unpublished().iter().map(|r| r.path()).collect();
        assert!(
            new.is_empty(),
            "not in {LOCK_FILE} yet: {new:?}; publish them with scripts/publish-reports"
        );
    }

    #[test]
    fn placeholders_skip_strings_and_comments() {
        let p = placeholders("SELECT '$no', $yes -- $nope\n, $also_1");
        assert_eq!(p.into_iter().collect::<Vec<_>>(), vec!["also_1", "yes"]);
    }
}
