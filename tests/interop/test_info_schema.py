"""`emconvert info --json` output validates against the published JSON Schema
(docs/info.schema.json): for files emio writes in every format, and for a sample of every
format in the corpus, with --checksum and --original, and for a file that fails."""
import json

import jsonschema
import numpy as np
import pytest

from conftest import ROOT, save_npy

SCHEMA = json.loads((ROOT / "docs" / "info.schema.json").read_text())
WRITTEN = ["npy", "zarr", "zspy", "tif", "mrc", "emd", "dm4", "blo", "mib"]


def documents(emconvert, *paths):
    proc = emconvert("info", "--json", "--checksum", "--original", *paths, check=False)
    return [json.loads(line) for line in proc.stdout.splitlines()], proc


def test_schema_is_valid():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_written_files_validate(tmp_path, emconvert):
    src = save_npy(tmp_path / "in.npy", (np.arange(2 * 3 * 6 * 6) % 200).astype(np.uint8).reshape(2, 3, 6, 6))
    outs = []
    for ext in WRITTEN:
        out = tmp_path / f"cube.{ext}"
        emconvert(src, out)
        outs.append(out)
    bad = tmp_path / "bad.npy"
    bad.write_bytes(b"not a file")
    docs, proc = documents(emconvert, *outs, bad)
    assert proc.returncode == 1
    assert len(docs) == len(outs) + 1
    for doc in docs:
        jsonschema.validate(doc, SCHEMA)
    assert "error" in docs[-1]


def test_corpus_sample_validates(corpus, emconvert):
    sample = []
    for folder in sorted(p for p in corpus.iterdir() if p.is_dir()):
        files = sorted(p for p in folder.iterdir()
                       if not p.name.endswith((".json", ".txt", ".md", ".hdr", ".tsv")))
        sample.extend(files[:2])
    docs, _ = documents(emconvert, *sample)
    assert len(docs) == len(sample)
    for doc in docs:
        jsonschema.validate(doc, SCHEMA)
