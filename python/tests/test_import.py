"""``import emio`` is cheap (issue 14, item 21: a fresh dask.distributed worker imports emio
on its first task): it loads the extension and the reading code only, does no work (no
format registry, no file access), and leaves Dask, distributed, HyperSpy and the writer's
code unimported until they are used."""

import subprocess
import sys

LATER = ("dask", "distributed", "hyperspy", "emio._writer", "emio.hyperspy", "hashlib")


def imported_after(code):
    script = f"import sys\n{code}\nprint(' '.join(m for m in {LATER!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return out.stdout.split()


def test_import_loads_nothing_it_does_not_need():
    assert imported_after("import emio") == []


def test_reading_eagerly_needs_no_dask(tmp_path):
    path = tmp_path / "a.npy"
    code = (
        "import numpy as np, emio\n"
        f"np.save({str(path)!r}, np.zeros((2, 3), np.float32))\n"
        f"emio.file_reader({str(path)!r})[0]['data'] += 1"
    )
    assert imported_after(code) == []


def test_import_does_no_work():
    code = "import emio\nassert not emio._FORMATS, 'the format table was built at import'"
    assert imported_after(code) == []
