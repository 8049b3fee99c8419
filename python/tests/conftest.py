"""Shared fixtures for the emio Python package tests.

The conformance corpus is ``../shared/corpus`` beside the repository (override with
``EMIO_CORPUS``); ``tests/known_differences.json`` of the repository documents where emio
differs from rsciio's readings on purpose.
"""

import csv
import json
import os
from pathlib import Path

import pytest

import emio

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("EMIO_CORPUS", REPO.parent / "shared" / "corpus"))
KNOWN_DIFFERENCES = REPO / "tests" / "known_differences.json"


def corpus_entries():
    """``(data file, format, reference json)`` for every reading in the corpus manifest,
    relative to the corpus folder; empty when the corpus is missing."""
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return []
    entries = []
    with open(manifest, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row["role"] != "data":
                continue
            folder = os.path.dirname(row["path"])
            for reference in filter(None, row["references"].split(";")):
                entries.append((row["path"], row["format"], f"{folder}/{reference}"))
    return entries


def readable_formats():
    return {f["name"] for f in emio.formats() if f["can_read"]}


def writable_formats():
    return [f for f in emio.formats() if f["can_write"]]


def load_known():
    doc = json.loads(KNOWN_DIFFERENCES.read_text(encoding="utf-8"))
    return doc


@pytest.fixture(scope="session")
def corpus():
    if not (CORPUS / "MANIFEST.tsv").is_file():
        pytest.fail(f"the conformance corpus is missing: expected {CORPUS}")
    return CORPUS


def read_kwargs(reference):
    """The reference's reader keywords, minus ``lazy``."""
    return {k: v for k, v in (reference.get("read_kwargs") or {}).items() if k != "lazy"}
