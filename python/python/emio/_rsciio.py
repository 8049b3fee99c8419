"""rsciio compatibility of ``file_reader`` keywords: every keyword of the rsciio plugin that
reads each emio format is accepted, with rsciio's default.

A keyword reaches the format's reader in Rust when the format declares it (see
:func:`emio.formats`); the others are handled here: :data:`RSCIIO_READERS` lists, per emio
format, the rsciio plugin and its ``file_reader`` keywords with their defaults (checked
against rsciio's signatures by ``tests/test_rsciio_keywords.py``), and
:data:`PYTHON_KEYWORDS` says how each one that the Rust reader does not declare is honoured.
A keyword whose value cannot change emio's result is accepted at any value (the reason is
its entry); one that would change the result and that emio does not implement is accepted
at rsciio's default and raises :class:`~emio.UnsupportedError` for any other value.
"""

#: Keywords every reader takes (handled by ``file_reader`` itself): ``lazy``, ``chunks``
#: and ``mmap_mode`` (eager arrays: None or "c" copy-on-write, "r" read-only).
COMMON_KEYWORDS = ("lazy", "chunks", "mmap_mode", "distributed")

#: emio format -> (rsciio plugin module, {keyword: rsciio default}) for every keyword of
#: the plugin's ``file_reader`` except ``filename`` and ``**kwargs``. Formats whose emio
#: reader has not landed are listed too, so they are covered when it does.
RSCIIO_READERS = {
    "dm": ("rsciio.digitalmicrograph", {"lazy": False, "order": None, "optimize": True, "chunks": "auto"}),
    "emd": (
        "rsciio.emd",
        {
            "lazy": False,
            "dataset_path": None,
            "stack_group": None,
            "select_type": None,
            "first_frame": 0,
            "last_frame": None,
            "sum_frames": True,
            "sum_EDS_detectors": True,
            "rebin_energy": 1,
            "SI_dtype": None,
            "load_SI_image_stack": False,
        },
    ),
    "mrc": (
        "rsciio.mrc",
        {
            "lazy": False,
            "endianness": "<",
            "navigation_shape": None,
            "chunks": "auto",
            "metadata_file": "auto",
            "virtual_images": None,
            "external_images": None,
            "scan_file": None,
        },
    ),
    "blo": ("rsciio.blockfile", {"lazy": False, "chunks": "auto", "endianness": "<"}),
    "mib": (
        "rsciio.quantumdetector",
        {
            "lazy": False,
            "chunks": "auto",
            "mmap_mode": None,
            "navigation_shape": None,
            "first_frame": None,
            "last_frame": None,
            "print_info": False,
        },
    ),
    "tiff": (
        "rsciio.tiff",
        {"lazy": False, "force_read_resolution": False, "multipage_as_list": False, "hamamatsu_streak_axis_type": None},
    ),
    "npy": ("rsciio.numpy", {"lazy": False, "chunks": "auto", "navigation_axes": None}),
    "zspy": ("rsciio.zspy", {"lazy": False}),
    "hspy": ("rsciio.hspy", {"lazy": False}),
    "tia": ("rsciio.tia", {"lazy": False, "only_valid_data": True}),
    "empad": ("rsciio.empad", {"lazy": False, "q_calibration": None, "remove_nans": False}),
    "tvips": (
        "rsciio.tvips",
        {
            "lazy": False,
            "scan_shape": None,
            "scan_start_frame": 0,
            "winding_scan_axis": None,
            "hysteresis": 0,
            "rechunking": "auto",
        },
    ),
    "msa": ("rsciio.msa", {"lazy": False, "encoding": "latin-1"}),
    "ripple": ("rsciio.ripple", {"lazy": False, "rpl_info": None, "encoding": "latin-1", "chunks": "auto"}),
    "arina": (
        "rsciio.arina",
        {"lazy": False, "navigation_shape": None, "rebin_diffraction": 1, "dtype": None, "flatfield": None},
    ),
}

#: Keywords that cannot change emio's result, accepted at any value: format -> {keyword:
#: why}.
NO_EFFECT = {
    "dm": {
        "optimize": "rsciio copies spectrum images so the signal axis is contiguous; emio "
        "returns the same values as a zero-copy view of the file's layout",
    },
    "blo": {
        "endianness": "blockfiles are little-endian; the header's fields are read as such",
    },
    "tvips": {"rechunking": "chunking of lazy arrays is set by ``chunks``"},
    "ripple": {"encoding": "emio reads the .rpl keywords (ASCII) as latin-1, a superset "
               "of ASCII; only names and units could hold other characters"},
}

#: Keywords handled by ``file_reader`` in Python for a format whose Rust reader does not
#: declare them: NPY ``navigation_axes`` (which axes navigate), MIB ``print_info`` (prints
#: the header emio read, its ``original_metadata``), DM ``order`` ("F": the stored values
#: laid out in Fortran order, as rsciio's ``reshape(shape, order="F")``), MRC
#: ``virtual_images`` and ``external_images`` (files read and added as HyperSpy navigators,
#: as rsciio does).
IMPLEMENTED = {
    "dm": ("order",),
    "mib": ("print_info",),
    "mrc": ("virtual_images", "external_images"),
    "npy": ("navigation_axes",),
}


def accepted_keywords(format, declared):
    """``{keyword: default}`` of every keyword ``file_reader`` takes for ``format``, given
    the names its Rust reader ``declared``: rsciio's keywords (with rsciio's defaults),
    the declared ones, and :data:`COMMON_KEYWORDS`."""
    out = {name: None for name in declared}
    out.update(RSCIIO_READERS.get(format, (None, {}))[1])
    out.update({"lazy": False, "chunks": "auto", "mmap_mode": None, "distributed": False})
    return out


def split(format, declared, kwds):
    """Split reader keywords into those for the Rust reader (declared by it, or unknown:
    the Rust reader rejects those with the list of valid ones; None, rsciio's "default",
    leaves a declared option at the reader's default) and those handled here,
    ``{keyword: value}``. Raises UnsupportedError for a keyword emio accepts only at
    rsciio's default when another value is given."""
    from .exceptions import UnsupportedError

    rsciio = RSCIIO_READERS.get(format, (None, {}))[1]
    to_rust, here = {}, {}
    for key, value in kwds.items():
        if key in declared:
            if value is not None:  # rsciio's None is "the default": the reader's own
                to_rust[key] = value
        elif key in COMMON_KEYWORDS:
            here[key] = value
        elif key in rsciio:
            if key in NO_EFFECT.get(format, {}) or key in IMPLEMENTED.get(format, ()):
                here[key] = value
            elif _same(value, rsciio[key]):
                continue
            else:
                raise UnsupportedError(
                    f"emio's {format} reader does not implement {key}={value!r} (rsciio's "
                    f"keyword); leave it at its default ({rsciio[key]!r}) or read the file "
                    f"with rsciio"
                )
        else:
            to_rust[key] = value
    return to_rust, here


def _same(value, default):
    try:
        return bool(value == default) and type(value) is type(default) or value is default
    except Exception:  # noqa: BLE001 - arrays and other values without a plain ==
        return False


#: Formats read by rsciio's hierarchical (HDF5/Zarr signal tree) reader, whose dicts also
#: carry ``attributes``, ``package`` and ``package_version``.
HIERARCHICAL = ("hspy", "zspy")


def extra_keys(format, lazy, package=None):
    """The keys rsciio's dicts carry besides data, axes and the metadata trees: ``mapping``
    and ``post_process`` empty (emio's ``metadata`` already holds what rsciio's mapping and
    post-processing give), and for :data:`HIERARCHICAL` formats ``attributes`` (``_lazy``)
    and the signal's ``package`` and ``package_version`` (``package``: the dataset's
    ``(name, version)`` as the file records them; empty strings where it records none)."""
    keys = {"mapping": {}, "post_process": []}
    if format in HIERARCHICAL:
        name, version = package or ("", "")
        keys.update(attributes={"_lazy": bool(lazy)}, package=name, package_version=version)
    return keys
