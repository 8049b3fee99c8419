//! The registry's two-stage probe: formats sharing a signature are told apart by
//! `Format::inspect`, then by extension, then by registration order.

use std::path::Path;
use std::sync::Arc;

use emio_core::{ContentMatch, Dataset, Error, Format, FormatInfo, Options, Registry, Result};

/// A fake format sharing the signature `SHARED` with the others; `verdict` is what its
/// content check says.
struct Fake {
    name: &'static str,
    ext: &'static [&'static str],
    verdict: ContentMatch,
}

impl Format for Fake {
    fn info(&self) -> FormatInfo {
        FormatInfo {
            name: self.name,
            description: "test format",
            extensions: self.ext,
            read_options: &[],
            writes: None,
        }
    }
    fn sniff(&self, head: &[u8]) -> bool {
        head.starts_with(b"SHARED")
    }
    fn inspect(&self, _path: &Path) -> ContentMatch {
        self.verdict
    }
    fn open(&self, _path: &Path, _options: &Options) -> Result<Vec<Dataset>> {
        Err(Error::unsupported(self.name, "opening"))
    }
}

fn registry(formats: Vec<Fake>) -> Registry {
    let mut r = Registry::new();
    for f in formats {
        r.register(Arc::new(f));
    }
    r
}

fn fake(name: &'static str, ext: &'static [&'static str], verdict: ContentMatch) -> Fake {
    Fake { name, ext, verdict }
}

fn probe(r: &Registry, file_name: &str, content: &[u8]) -> Result<&'static str> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(file_name);
    std::fs::write(&path, content).expect("write");
    r.probe(&path).map(|f| f.name())
}

#[test]
fn recognised_content_beats_a_matching_extension() {
    use ContentMatch::*;
    let r = registry(vec![
        fake("emd", &["emd", "h5"], Signature),
        fake("hspy", &["hspy"], Recognised),
    ]);
    assert_eq!(probe(&r, "x.h5", b"SHARED...").unwrap(), "hspy");
}

#[test]
fn rejected_formats_are_never_picked() {
    use ContentMatch::*;
    let r = registry(vec![
        fake("emd", &["emd", "h5"], Rejected),
        fake("arina", &["h5"], Signature),
    ]);
    assert_eq!(probe(&r, "x.h5", b"SHARED").unwrap(), "arina");
    let r = registry(vec![fake("emd", &["emd", "h5"], Rejected)]);
    // Every signature match rejected: the extension decides (open then explains).
    assert_eq!(probe(&r, "x.emd", b"SHARED").unwrap(), "emd");
    assert!(probe(&r, "x.bin", b"SHARED").is_err());
}

#[test]
fn equal_content_matches_go_to_the_extension_then_the_first_registered() {
    use ContentMatch::*;
    let r = registry(vec![
        fake("a", &["a"], Recognised),
        fake("b", &["b"], Recognised),
    ]);
    assert_eq!(probe(&r, "x.b", b"SHARED").unwrap(), "b");
    assert_eq!(probe(&r, "x.c", b"SHARED").unwrap(), "a");
    // No signature: extension only.
    assert_eq!(probe(&r, "x.b", b"OTHER").unwrap(), "b");
}
