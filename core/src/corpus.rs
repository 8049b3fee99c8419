//! Where the shared conformance corpus is, for the tests of every crate.
//!
//! The corpus (`shared/corpus`, read-only, never copied into the repository) sits beside
//! the checkout: `../shared/corpus` from the repository root, or further up for git
//! worktrees (`/work/wt/NAME` finds `/work/shared/corpus`). `EMIO_CORPUS` overrides the
//! search. Tests that read the corpus call [`corpus_dir`], which fails loudly when the
//! corpus is absent: a missing corpus must never turn corpus tests into silent passes.

use std::path::{Path, PathBuf};

/// The environment variable that names the corpus folder explicitly.
pub const CORPUS_ENV: &str = "EMIO_CORPUS";

/// Find the corpus: `$EMIO_CORPUS` if set, else the first `shared/corpus` holding a
/// `MANIFEST.tsv` in an ancestor of this crate's folder. Returns the places looked at
/// when it is not found.
pub fn find_corpus_dir() -> Result<PathBuf, Vec<PathBuf>> {
    if let Some(dir) = std::env::var_os(CORPUS_ENV) {
        let dir = PathBuf::from(dir);
        return if dir.join("MANIFEST.tsv").is_file() {
            Ok(dir)
        } else {
            Err(vec![dir])
        };
    }
    let mut tried = Vec::new();
    for ancestor in Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().skip(1) {
        let dir = ancestor.join("shared").join("corpus");
        if dir.join("MANIFEST.tsv").is_file() {
            return Ok(dir);
        }
        tried.push(dir);
    }
    Err(tried)
}

/// The corpus folder, for tests.
///
/// # Panics
/// When the corpus cannot be found, with the places looked at and how to fix it: corpus
/// tests must fail, not pass without reading anything.
pub fn corpus_dir() -> PathBuf {
    find_corpus_dir().unwrap_or_else(|tried| {
        panic!(
            "the conformance corpus (shared/corpus with its MANIFEST.tsv) is missing; looked \
             in: {}. Fix: put the corpus beside the repository (../shared/corpus) or set \
             {CORPUS_ENV}=/path/to/corpus",
            tried
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })
}

/// The corpus folder of one format (`corpus_dir()/<format>`), which must exist.
///
/// # Panics
/// When the corpus or the format's folder is missing (see [`corpus_dir`]).
pub fn corpus_format_dir(format: &str) -> PathBuf {
    let dir = corpus_dir().join(format);
    assert!(
        dir.is_dir(),
        "the conformance corpus has no {format} folder: expected {}",
        dir.display()
    );
    dir
}

/// The files of a format's corpus folder whose names end with one of `suffixes`, sorted.
///
/// # Panics
/// When the corpus is missing (see [`corpus_dir`]) or no file matches: a test over an
/// empty list would assert nothing.
pub fn corpus_files(format: &str, suffixes: &[&str]) -> Vec<PathBuf> {
    let dir = corpus_format_dir(format);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default();
            suffixes.iter().any(|s| name.ends_with(s))
        })
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no {suffixes:?} file in {}: the corpus is incomplete",
        dir.display()
    );
    files
}
