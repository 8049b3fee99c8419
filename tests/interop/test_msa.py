"""EMSA/MSA: files written by emio are read back by rsciio's msa reader with the same values,
axis and keywords (Y and XY, several separators and encodings), and rewriting a corpus MSA
file keeps its keywords and mapped metadata."""
import json

import numpy as np
import pytest

from conftest import save_npy

msa = pytest.importorskip("rsciio.msa")


def rsciio_read(path, **kwargs):
    return msa.file_reader(str(path), **kwargs)[0]


@pytest.mark.parametrize("fmt", ["Y", "XY"])
@pytest.mark.parametrize("separator", [", ", " ", "\t"])
@pytest.mark.parametrize("dtype", ["<f8", "<f4", "<u2", "<i4"])
def test_rsciio_reads_emio_values(tmp_path, emconvert, fmt, separator, dtype):
    rng = np.random.default_rng(3)
    a = (rng.random(300) * 1e4 - 100).astype(dtype)
    src = save_npy(tmp_path / "in.npy", a)
    out = tmp_path / "out.msa"
    emconvert(src, out, "-w", f"format={fmt}", "-w", f"separator={separator}")
    s = rsciio_read(out)
    np.testing.assert_array_equal(s["data"], a.astype("f8"))
    assert s["original_metadata"]["DATATYPE"] == fmt
    assert s["original_metadata"]["NPOINTS"] == 300.0
    assert s["axes"][0]["size"] == 300


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8"])
@pytest.mark.parametrize("name", ["example1.msa", "example2.msa", "ISO_22029_2022_compliance.msa"])
def test_rewritten_corpus_file_reads_the_same(tmp_path, emconvert, corpus, name, encoding):
    src = corpus / "msa" / name
    out = tmp_path / "out.msa"
    emconvert(src, out, "-w", f"encoding={encoding}")
    before, after = rsciio_read(src), rsciio_read(out, encoding=encoding)
    np.testing.assert_array_equal(after["data"], before["data"])
    for key in ("scale", "offset", "units", "name", "size"):
        assert after["axes"][0][key] == before["axes"][0][key]
    mapped_before = dict(before["metadata"])
    mapped_after = dict(after["metadata"])
    for md in (mapped_before, mapped_after):
        md["General"] = {k: v for k, v in md["General"].items() if k != "original_filename"}
    assert json.dumps(mapped_after, sort_keys=True) == json.dumps(mapped_before, sort_keys=True)
    # NPOINTS is rewritten with the true count, DATATYPE from `format` (Y by default),
    # VERSION as the 1.0 emio writes, COMMENT when absent.
    for key, value in before["original_metadata"].items():
        if key not in ("COMMENT", "NPOINTS", "DATATYPE", "VERSION"):
            assert after["original_metadata"][key] == value, key
    # emio's reading of its own file equals rsciio's reading of it.
    info = json.loads(emconvert("info", "--json", "--original", out, "-o", f"encoding={encoding}").stdout)
    ours = info["datasets"][0]
    assert ours["metadata"]["Signal"] == after["metadata"]["Signal"]
    assert ours["original_metadata"]["TITLE"] == after["original_metadata"]["TITLE"]
