"""rsciio's ``file_reader`` keywords: emio accepts every keyword of the rsciio plugin that
reads each of its formats, with rsciio's defaults.

``emio._rsciio.RSCIIO_READERS`` must match rsciio's signatures (walked with
``inspect.signature``), and reading a corpus file of every readable format with all of
rsciio's keywords at their defaults gives what a plain read gives. Keywords that change the
result are checked where emio implements them in Python.
"""

import importlib
import inspect
import json

import numpy as np
import pytest

import emio
from emio import _rsciio
from conftest import CORPUS, corpus_entries, read_kwargs, readable_formats

READABLE = sorted(readable_formats())


def rsciio_keywords(module):
    """``{keyword: default}`` of an rsciio plugin's ``file_reader`` (no ``filename``, no
    ``**kwargs``); skips when the plugin's optional dependencies are missing."""
    try:
        plugin = importlib.import_module(module)
    except ImportError as e:
        pytest.skip(f"{module} needs a missing optional dependency: {e}")
    parameters = inspect.signature(plugin.file_reader).parameters.values()
    return {
        p.name: p.default
        for p in parameters
        if p.name != "filename" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }


@pytest.mark.parametrize("fmt", sorted(_rsciio.RSCIIO_READERS))
def test_keyword_table_matches_rsciio_signatures(fmt):
    module, table = _rsciio.RSCIIO_READERS[fmt]
    assert rsciio_keywords(module) == table


@pytest.mark.parametrize("fmt", READABLE)
def test_every_rsciio_keyword_is_accepted(fmt):
    if fmt not in _rsciio.RSCIIO_READERS:
        pytest.skip(f"no rsciio plugin reads emio's {fmt} format")
    module, _ = _rsciio.RSCIIO_READERS[fmt]
    declared = {o["name"] for o in emio._format_info(fmt)["read_options"]}
    accepted = _rsciio.accepted_keywords(fmt, declared)
    missing = sorted(set(rsciio_keywords(module)) - set(accepted))
    assert not missing, f"emio's {fmt} reader does not accept rsciio's {missing}"


def first_corpus_file(fmt):
    """A corpus data file of ``fmt`` that rsciio read with no keywords, with its reference."""
    for file, f, reference_key in corpus_entries():
        if f != fmt or not reference_key.endswith(file.split("/")[-1] + ".expected.json"):
            continue
        reference = json.loads((CORPUS / reference_key).read_text(encoding="utf-8"))
        if reference.get("reader") == "rsciio" and not read_kwargs(reference, CORPUS / file):
            return CORPUS / file
    return None


def same_reading(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x["data"].dtype == y["data"].dtype and x["data"].shape == y["data"].shape
        assert np.ascontiguousarray(x["data"]).tobytes() == np.ascontiguousarray(y["data"]).tobytes()
        assert [ax.keys() for ax in x["axes"]] == [ax.keys() for ax in y["axes"]]
        assert x["metadata"] == y["metadata"]


@pytest.mark.parametrize("fmt", READABLE)
def test_rsciio_defaults_read_like_no_keywords(fmt):
    if fmt not in _rsciio.RSCIIO_READERS:
        pytest.skip(f"no rsciio plugin reads emio's {fmt} format")
    path = first_corpus_file(fmt)
    if path is None:
        pytest.skip(f"no corpus file of {fmt} read by rsciio without keywords")
    defaults = rsciio_keywords(_rsciio.RSCIIO_READERS[fmt][0])
    plain = emio.file_reader(path)
    same_reading(emio.file_reader(path, **defaults), plain)
    lazy = emio.file_reader(path, **dict(defaults, lazy=True))
    assert [s["data"].shape for s in lazy] == [s["data"].shape for s in plain]


def test_keywords_that_emio_does_not_implement_name_themselves(monkeypatch):
    # A keyword of rsciio's that changes the result and that emio does not implement.
    module, table = _rsciio.RSCIIO_READERS["dm"]
    monkeypatch.setitem(_rsciio.RSCIIO_READERS, "dm", (module, {**table, "novel": 1}))
    with pytest.raises(emio.UnsupportedError, match="novel=2") as info:
        _rsciio.split("dm", set(), {"novel": 2})
    assert isinstance(info.value, NotImplementedError)
    # rsciio's default is accepted (and needs nothing), and so are keywords without effect.
    assert _rsciio.split("dm", set(), {"novel": 1}) == ({}, {})
    assert _rsciio.split("dm", set(), {"optimize": False}) == ({}, {"optimize": False})


def test_order_of_dm_as_rsciio(tmp_path):
    digitalmicrograph = pytest.importorskip("rsciio.digitalmicrograph")
    path = tmp_path / "a.dm4"
    emio.file_writer(path, {"data": np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)})
    for order in (None, "C", "F"):
        ours = emio.file_reader(path, order=order)[0]["data"]
        theirs = digitalmicrograph.file_reader(str(path), order=order)[0]["data"]
        np.testing.assert_array_equal(ours, theirs)
        lazy = emio.file_reader(path, order=order, lazy=True)[0]["data"]
        np.testing.assert_array_equal(np.asarray(lazy), theirs)
    with pytest.raises(emio.InvalidOptionError):
        emio.file_reader(path, order="K")


def test_virtual_and_external_images_of_mrc(tmp_path):
    movie = tmp_path / "scan_movie.mrc"
    emio.file_writer(movie, {"data": np.zeros((6, 4, 4), np.float32)})
    virtual = tmp_path / "scan_bf.mrc"
    emio.file_writer(virtual, {"data": np.arange(6, dtype=np.float32).reshape(1, 6)})
    external = tmp_path / "scan_ext1.mrc"
    emio.file_writer(external, {"data": np.ones((5, 5), np.float32)})
    (signal,) = emio.file_reader(
        movie, navigation_shape=(3, 2), virtual_images=[str(virtual)], external_images=[external]
    )
    hyperspy = signal["metadata"]["_HyperSpy"]
    image = hyperspy["navigators"]["_sig_virtual_image_0"]
    np.testing.assert_array_equal(image["data"], np.arange(6, dtype=np.float32).reshape(2, 3))
    assert hyperspy["_sig_navigator"] is image
    assert hyperspy["navigators"]["_sig_external_image_0"]["data"].shape == (5, 5)
    (plain,) = emio.file_reader(movie, navigation_shape=(3, 2))
    assert "_sig_navigator" not in plain["metadata"].get("_HyperSpy", {})


def test_navigation_axes_of_npy(tmp_path):
    path = tmp_path / "scan.npy"
    np.save(path, np.zeros((2, 3, 4, 5), np.uint8))
    (signal,) = emio.file_reader(path, navigation_axes=[0, 1])
    assert [a["navigate"] for a in signal["axes"]] == [True, True, False, False]
    (signal,) = emio.file_reader(path, navigation_axes=[])
    assert not any(a["navigate"] for a in signal["axes"])


def test_print_info_of_mib(tmp_path, capsys):
    if "mib" not in READABLE:
        pytest.skip("emio's mib reader has not landed")
    path = tmp_path / "a.mib"
    emio.file_writer(path, {"data": np.zeros((2, 4, 4), np.uint16)})
    emio.file_reader(path)
    assert capsys.readouterr().out == ""
    emio.file_reader(path, print_info=True)
    assert capsys.readouterr().out.strip()


def test_signal_dicts_carry_rsciio_keys(tmp_path):
    a = np.zeros((2, 3), np.float32)
    path = tmp_path / "a.mrc"
    emio.file_writer(path, {"data": a})
    ours = emio.file_reader(path)[0]
    rsciio_mrc = pytest.importorskip("rsciio.mrc")
    theirs = rsciio_mrc.file_reader(str(path))[0]
    assert set(theirs) <= set(ours)
    assert ours["mapping"] == {} and ours["post_process"] == []
