"""Where the shared conformance corpus is, for every Python test of the repository
(``python/tests`` and ``tests/interop``); the Rust tests use ``emio_core::corpus``, with the
same rules.

The corpus (``shared/corpus`` with its ``MANIFEST.tsv``) sits beside the checkout, or further
up for git worktrees; ``EMIO_CORPUS`` overrides the search. A missing corpus is an error with
the fix, never an empty list of tests that pass.
"""

import csv
import os
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def corpus_dir():
    """The corpus folder; raises ``RuntimeError`` with the fix when it is missing."""
    if os.environ.get("EMIO_CORPUS"):
        candidates = [Path(os.environ["EMIO_CORPUS"])]
    else:
        candidates = [a / "shared" / "corpus" for a in REPO.parents]
    for dir in candidates:
        if (dir / "MANIFEST.tsv").is_file():
            return dir
    raise RuntimeError(
        "the conformance corpus (shared/corpus with its MANIFEST.tsv) is missing; looked in: "
        + ", ".join(map(str, candidates))
        + ". Fix: put the corpus beside the repository (../shared/corpus) or set EMIO_CORPUS=/path/to/corpus"
    )


def corpus_entries():
    """``(data file, format, reference json)`` for every reading in the corpus manifest,
    relative to the corpus folder."""
    entries = []
    with open(corpus_dir() / "MANIFEST.tsv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["role"] != "data":
                continue
            folder = os.path.dirname(row["path"])
            for reference in filter(None, row["references"].split(";")):
                entries.append((row["path"], row["format"], f"{folder}/{reference}"))
    assert entries, "the corpus manifest lists no reading"
    return entries


def formats_without_reader():
    """The corpus formats whose reader has not landed yet: ``FORMATS_WITHOUT_READER`` of
    ``tests/conformance.rs`` (one list for the Rust and Python corpus tests)."""
    source = (REPO / "tests" / "conformance.rs").read_text(encoding="utf-8")
    match = re.search(r"const FORMATS_WITHOUT_READER: &\[&str\] = &\[(.*?)\];", source, re.S)
    assert match, "FORMATS_WITHOUT_READER not found in tests/conformance.rs"
    return set(re.findall(r'"([^"]+)"', match.group(1)))
