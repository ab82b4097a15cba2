"""A restricted unpickler for user-supplied model files (FLAME pickles).

Real FLAME pickles hold chumpy objects and scipy sparse matrices. chumpy does not install on
modern Python/numpy, and unpickling arbitrary classes from a user file would run arbitrary code,
so this unpickler maps chumpy objects and scipy sparse matrices to plain numpy arrays and refuses
every other class.
"""

from __future__ import annotations

import codecs
import copyreg
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import TalkfaceError

_NUMPY = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}
_BUILTINS = {
    ("copy_reg", "_reconstructor"): copyreg._reconstructor,
    ("copyreg", "_reconstructor"): copyreg._reconstructor,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    ("_codecs", "encode"): codecs.encode,
    ("__builtin__", "bytes"): bytes,
    ("builtins", "bytes"): bytes,
}  # protocol-2 pickles of bytes (array data) use them: codecs.encode, or bytes() when empty


class _Chumpy:
    """Stands in for any chumpy class; keeps the pickled state (whose 'x' is the value)."""

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _Sparse:
    """Stands in for scipy.sparse csc/csr matrices (`kind`); keeps their state."""

    kind = "csc_matrix"

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _Restricted(pickle.Unpickler):
    def __init__(self, f, path: Path):  # noqa: ANN001
        super().__init__(f, encoding="latin1")
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY:
            return super().find_class(module.replace("numpy.core", "numpy._core"), name)
        if (module, name) in _BUILTINS:
            return _BUILTINS[(module, name)]
        if module == "chumpy" or module.startswith("chumpy."):
            return _Chumpy
        if module.startswith("scipy.sparse") and name in ("csc_matrix", "csr_matrix"):
            return type(f"_Sparse_{name}", (_Sparse,), {"kind": name})
        raise TalkfaceError(
            f"{self.path}: refused to load class {module}.{name} (only arrays, chumpy and "
            "scipy sparse matrices are read from model pickles)"
        )


def _plain(obj: Any, path: Path) -> Any:
    """Replace stand-ins by numpy arrays, recursively."""
    if isinstance(obj, _Chumpy):
        state = getattr(obj, "state", None)
        if not isinstance(state, dict) or "x" not in state:
            raise TalkfaceError(f"{path}: a chumpy object without a value ('x') cannot be read")
        return np.asarray(state["x"])
    if isinstance(obj, _Sparse):
        s = obj.state if isinstance(obj.state, dict) else {}
        try:
            data, indices, indptr, (rows, cols) = s["data"], s["indices"], s["indptr"], s["_shape"]
        except (KeyError, TypeError, ValueError):
            raise TalkfaceError(f"{path}: unreadable sparse matrix") from None
        dense = np.zeros((rows, cols), dtype=np.float64)
        major = cols if obj.kind == "csc_matrix" else rows
        for j in range(major):
            sl = slice(indptr[j], indptr[j + 1])
            if obj.kind == "csc_matrix":
                dense[indices[sl], j] = data[sl]
            else:
                dense[j, indices[sl]] = data[sl]
        return dense
    if isinstance(obj, dict):
        return {k: _plain(v, path) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v, path) for v in obj)
    return obj


def safe_load(path: Path) -> Any:
    """Unpickle `path` allowing only numpy arrays, chumpy objects and sparse matrices."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return _plain(_Restricted(f, path).load(), path)
    except TalkfaceError:
        raise
    except (OSError, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise TalkfaceError(f"{path}: not a readable model pickle ({e})") from None
