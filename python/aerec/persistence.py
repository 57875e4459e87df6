"""Safe, versioned single-file model storage.

A model file is a NumPy ``.npz`` archive: one entry ``__aerec__`` holds a JSON header (format
version, aerec version, estimator class, constructor parameters, scalar fitted attributes, and the
name/dtype/shape of every array), the other entries hold the fitted arrays. Loading uses
``np.load(allow_pickle=False)`` and JSON only — it never executes code — and checks every array
against the header and the estimator's own expectations, so truncated, tampered, wrong-version
or wrong-model files are refused with a clear error.
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from typing import Any, Optional

import numpy as np

from ._typing import ArrayLike, StrPath

FORMAT = "aerec-model"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file that cannot be loaded: corrupt, tampered, from a newer aerec, or another model."""


def _check_path(path):
    """A file-system path (str, bytes or os.PathLike). An integer is refused: ``open`` would read
    that file descriptor (``load(0)`` waited on standard input)."""
    if isinstance(path, (bool, int)) or not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"path must be a file path (str or os.PathLike), got {type(path).__name__} {path!r}")
    return os.fspath(path)


#: Estimator classes by name, filled by the estimators' base class as each class is defined, so this
#: module imports no model (``aerec.models`` imports it, not the other way round).
_REGISTRY = {}


def register(cls):
    """Make ``cls`` loadable by :func:`load` under its class name (called by the estimators' base)."""
    _REGISTRY[cls.__name__] = cls
    return cls


def registered_estimators():
    """The estimator classes :func:`load` can rebuild, in the order they were defined."""
    return list(_REGISTRY.values())


def _jsonable(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return np.dtype(value).name
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store {type(value).__name__} {value!r} in a model file")


_EXTRA = "extra:"


def save(estimator: Any, path: StrPath, *, extra: Optional[dict[str, ArrayLike]] = None,
         mapper: Any = None) -> None:
    """Write a fitted estimator to ``path``.

    extra : dict of name → array, optional
        Arrays stored beside the model (numeric or fixed-width string arrays, never objects);
        ``load(path, return_extra=True)`` returns them.
    mapper : aerec.data.IdMapper, optional
        A fitted id map stored with the model (its ids as the extra arrays ``user_ids`` and
        ``item_ids`` — the same as ``aerec fit`` writes — and its parameters in the header);
        ``load(path, return_mapper=True)`` rebuilds it.
    """
    from . import __version__

    extra = dict(extra or {})
    mapper_params = None
    if mapper is not None:
        if not hasattr(mapper, "item_ids_"):
            raise ValueError("mapper is not fitted: save a mapper that made the training matrix")
        extra.update(user_ids=mapper.user_ids_, item_ids=mapper.item_ids_)
        mapper_params = mapper.get_params()
    state = estimator._get_fitted_state()  # {'arrays': {...}, 'scalars': {...}}
    arrays = {name: np.ascontiguousarray(a) for name, a in state["arrays"].items()}
    for name, a in extra.items():
        a = np.asarray(a)
        if a.dtype == object:
            a = a.astype(str)  # ids as fixed-width strings: loadable without pickle
        arrays[_EXTRA + name] = np.ascontiguousarray(a)
    for name, a in arrays.items():
        if a.dtype == object:
            raise TypeError(f"fitted array {name!r} has dtype object and cannot be stored safely")
    params = estimator.get_params(deep=False)
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "aerec_version": __version__,
        "estimator": type(estimator).__name__,
        "params": {k: _jsonable(v) for k, v in params.items()},
        "scalars": {k: _jsonable(v) for k, v in state["scalars"].items()},
        "arrays": {name: {"dtype": a.dtype.str, "shape": list(a.shape)} for name, a in arrays.items()},
    }
    if mapper_params is not None:
        header["mapper"] = mapper_params
    path = _check_path(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    tmp = path + ".tmp"
    with open(tmp, "wb") as fh:  # write then rename: an interrupted save never leaves a half file
        np.savez(fh, __aerec__=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
    os.replace(tmp, path)


def load(path: StrPath, *, return_extra: bool = False, return_mapper: bool = False) -> Any:
    """Load a model written by ``save``/``estimator.save``/``aerec fit``; never executes code from the file.

    ``return_mapper=True``: also the ``aerec.data.IdMapper`` saved with it (``save(…, mapper=…)``,
    or the id maps ``aerec fit`` writes), so ``mapper.recommend_frame(model, records)`` answers in
    the original ids. ``return_extra=True``: also the extra arrays. The result is ``estimator``,
    ``(estimator, mapper)``, ``(estimator, extra)`` or ``(estimator, mapper, extra)``."""
    path = _check_path(path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise
    except OSError as exc:  # a folder, no permission, …
        raise ModelFileError(f"{path}: not a readable aerec model file ({exc})") from exc
    if not raw.startswith(b"PK"):  # a .npz is a zip archive: anything else (a CSV, a pickle) is not ours
        raise ModelFileError(f"{path}: not an aerec model file (those are .npz archives written by model.save "
                             "or 'aerec fit')")
    try:
        npz = np.load(io.BytesIO(raw), allow_pickle=False)
        files = set(npz.files)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise ModelFileError(f"{path}: not a readable aerec model file ({exc})") from exc
    if "__aerec__" not in files:
        raise ModelFileError(f"{path}: not an aerec model file (no header)")
    try:
        header = json.loads(npz["__aerec__"].tobytes().decode())
    except Exception as exc:
        raise ModelFileError(f"{path}: the model header is corrupt ({exc})") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not an aerec model file")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(f"{path}: written with model format version {version!r} by aerec "
                             f"{header.get('aerec_version')}; this aerec reads up to version {FORMAT_VERSION}. "
                             "Upgrade aerec to load it.")
    classes = _REGISTRY
    name = header.get("estimator")
    if name not in classes:
        raise ModelFileError(f"{path}: unknown estimator {name!r}")
    cls = classes[name]
    # JSON has no tuples: sequence parameters (layer sizes) come back as the tuples they were.
    params = {k: tuple(v) if isinstance(v, list) else v for k, v in dict(header.get("params", {})).items()}
    # a file written before a parameter existed gets the value that reproduces that older model
    for key, value in getattr(cls, "_params_before_they_existed", {}).items():
        params.setdefault(key, value)
    try:
        estimator = cls(**params)
    except TypeError as exc:
        raise ModelFileError(f"{path}: parameters do not fit {name} ({exc})") from exc
    arrays = {}
    spec = header.get("arrays", {})
    if set(spec) != files - {"__aerec__"}:
        raise ModelFileError(f"{path}: the arrays in the file do not match its header")
    for key, meta in spec.items():
        try:
            a = npz[key]
        except Exception as exc:
            raise ModelFileError(f"{path}: array {key!r} is corrupt ({exc})") from exc
        if a.dtype.str != meta["dtype"] or list(a.shape) != meta["shape"]:
            raise ModelFileError(f"{path}: array {key!r} is {a.dtype.str}{a.shape}, header says "
                                 f"{meta['dtype']}{tuple(meta['shape'])}")
        arrays[key] = a
    extra = {k[len(_EXTRA):]: arrays.pop(k) for k in list(arrays) if k.startswith(_EXTRA)}
    try:
        estimator._set_fitted_state(arrays, header.get("scalars", {}))
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: not a consistent {name} model ({exc})") from exc
    out = [estimator]
    if return_mapper:
        out.append(_mapper(path, header.get("mapper"), extra))
    if return_extra:
        out.append(extra)
    return tuple(out) if len(out) > 1 else estimator


def _mapper(path, params, extra):
    """The IdMapper saved beside a model (defaults for files that hold only the id arrays)."""
    from .data import IdMapper

    if "item_ids" not in extra or "user_ids" not in extra:
        raise ModelFileError(f"{path}: holds no id maps (save the model with mapper=…, or fit it with 'aerec fit')")
    try:
        mapper = IdMapper(**dict(params or {}))
        mapper._check_params()
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: the stored id map's parameters are not valid ({exc})") from exc
    mapper.user_ids_, mapper.item_ids_ = extra["user_ids"], extra["item_ids"]
    return mapper
