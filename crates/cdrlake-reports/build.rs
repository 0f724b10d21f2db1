//! Compiles every report under `sql/reports/<name>/v<N>.sql` and `sql/reports.lock` into the
//! crate, so the binary serves its reports without the source tree.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let sql = manifest.join("../../sql");
    let reports = sql.join("reports");
    println!("cargo:rerun-if-changed={}", reports.display());
    println!(
        "cargo:rerun-if-changed={}",
        sql.join("reports.lock").display()
    );
    let mut files: Vec<(String, String, PathBuf)> = Vec::new();
    if let Ok(dirs) = std::fs::read_dir(&reports) {
        for dir in dirs.flatten() {
            let path = dir.path();
            if !path.is_dir() {
                continue;
            }
            println!("cargo:rerun-if-changed={}", path.display());
            let name = dir.file_name().to_string_lossy().to_string();
            if let Ok(entries) = std::fs::read_dir(&path) {
                for e in entries.flatten() {
                    let file = e.file_name().to_string_lossy().to_string();
                    println!("cargo:rerun-if-changed={}", e.path().display());
                    files.push((name.clone(), file, e.path()));
                }
            }
        }
    }
    files.sort();
    let mut out = String::from(
        "/// (report directory, file name, file text) of every file under sql/reports.\n",
    );
    out.push_str("pub static FILES: &[(&str, &str, &str)] = &[\n");
    for (name, file, path) in &files {
        let _ = writeln!(
            out,
            "    ({name:?}, {file:?}, include_str!({:?})),",
            abs(path)
        );
    }
    out.push_str("];\n");
    let lock = sql.join("reports.lock");
    if lock.exists() {
        let _ = writeln!(
            out,
            "pub static LOCK: Option<&str> = Some(include_str!({:?}));",
            abs(&lock)
        );
    } else {
        out.push_str("pub static LOCK: Option<&str> = None;\n");
    }
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it")).join("files.rs");
    std::fs::write(dest, out).expect("OUT_DIR is writable");
}

fn abs(p: &Path) -> String {
    p.canonicalize()
        .unwrap_or_else(|_| p.to_path_buf())
        .to_string_lossy()
        .to_string()
}
