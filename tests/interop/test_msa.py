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


@pytest.mark.parametrize(
    "encoding,title",
    [
        ("cp1252", "Spectre à 5 µm – 3 €"),
        ("cp1250", "Spektrum Šč µ"),
        ("cp1251", "Спектр µ"),
        ("utf-16", "Спектр µ € 日本"),
        ("utf-8-sig", "µ € 日本"),
        ("ISO-8859-1", "Spectre à 5 µm"),
    ],
)
def test_encodings_both_ways(tmp_path, emconvert, encoding, title):
    """rsciio writes a spectrum in `encoding`; emio reads its title with the same
    `encoding`, rewrites the file in it, and rsciio reads the title and values back."""
    src = tmp_path / "rsciio.msa"
    signal = {
        "data": np.arange(5.0) * 1.5,
        "axes": [{"size": 5, "scale": 0.5, "offset": -1.0, "units": "eV", "name": "Energy", "navigate": False}],
        "metadata": {"General": {"title": title}, "Signal": {"signal_type": "EELS"}},
        "original_metadata": {},
    }
    msa.file_writer(str(src), signal, encoding=encoding)
    info = json.loads(emconvert("info", "--json", src, "-o", f"encoding={encoding}").stdout)
    assert info["datasets"][0]["metadata"]["General"]["title"] == title
    out = tmp_path / "emio.msa"
    emconvert(src, out, "-o", f"encoding={encoding}", "-w", f"encoding={encoding}")
    back = rsciio_read(out, encoding=encoding)
    assert back["metadata"]["General"]["title"] == title
    np.testing.assert_array_equal(back["data"], signal["data"])
    assert back["axes"][0]["scale"] == 0.5 and back["axes"][0]["offset"] == -1.0


def test_unknown_encoding_is_refused(tmp_path, emconvert, corpus):
    proc = emconvert("info", corpus / "msa" / "example1.msa", "-o", "encoding=shift_jis", check=False)
    assert proc.returncode != 0
    assert "shift_jis" in proc.stderr and "cp1252" in proc.stderr
