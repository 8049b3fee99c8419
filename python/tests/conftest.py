"""Shared fixtures for the emio Python package tests.

The conformance corpus is found by the repository's ``tests/emio_corpus.py`` (beside the
repository, or ``EMIO_CORPUS``); a missing corpus fails the run with the fix.
``tests/known_differences.json`` of the repository documents where emio differs from
rsciio's readings on purpose.
"""

import json
import sys
from pathlib import Path

import pytest

import emio

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests"))
from emio_corpus import corpus_dir, corpus_entries, formats_without_reader  # noqa: E402

CORPUS = corpus_dir()
KNOWN_DIFFERENCES = REPO / "tests" / "known_differences.json"

__all__ = ["CORPUS", "corpus_entries", "formats_without_reader"]


def readable_formats():
    return {f["name"] for f in emio.formats() if f["can_read"]}


def writable_formats():
    return [f for f in emio.formats() if f["can_write"]]


def load_known():
    return json.loads(KNOWN_DIFFERENCES.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def corpus():
    return CORPUS


#: Reader keywords whose value is a file path (emio declares them with kind ``path``).
PATH_KEYWORDS = {o["name"] for f in emio.formats() for o in f["read_options"] if o["kind"] == "path"}


def read_kwargs(reference, data_file):
    """The reference's reader keywords, minus ``lazy``. The corpus gives path-valued ones
    relative to the data file's folder; emio and rsciio take a relative path as relative to
    the current directory, so they are joined to ``data_file``'s folder here."""
    out = {}
    for key, value in (reference.get("read_kwargs") or {}).items():
        if key == "lazy":
            continue
        if key in PATH_KEYWORDS and isinstance(value, str):
            value = str(Path(data_file).parent / value)
        out[key] = value
    return out
