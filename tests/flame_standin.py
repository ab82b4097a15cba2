"""A small stand-in for the licence-restricted FLAME files, made by code (FLAME never ships here).

The model pickle wraps arrays in a fake `chumpy.ch.Ch` class and the regressor in a scipy sparse
matrix, as real FLAME pickles do, so the restricted unpickler's mapping is exercised.
"""

from __future__ import annotations

import pickle
import sys
import types
from pathlib import Path

import numpy as np
import scipy.sparse


def uv_sphere(n_lat: int = 12, n_lon: int = 24, radius: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    verts = [(0.0, radius, 0.0)]
    for i in range(1, n_lat):
        th = np.pi * i / n_lat
        for j in range(n_lon):
            ph = 2 * np.pi * j / n_lon
            verts.append(
                (radius * np.sin(th) * np.sin(ph), radius * np.cos(th), radius * np.sin(th) * np.cos(ph))
            )
    verts.append((0.0, -radius, 0.0))
    ring = lambda i, j: 1 + (i - 1) * n_lon + j % n_lon  # noqa: E731
    faces = [(0, ring(1, j), ring(1, j + 1)) for j in range(n_lon)]
    for i in range(1, n_lat - 1):
        for j in range(n_lon):
            a, b, c, d = ring(i, j), ring(i + 1, j), ring(i + 1, j + 1), ring(i, j + 1)
            faces += [(a, b, c), (a, c, d)]
    last = len(verts) - 1
    faces += [(ring(n_lat - 1, j), last, ring(n_lat - 1, j + 1)) for j in range(n_lon)]
    return np.asarray(verts), np.asarray(faces, dtype=np.uint32)


def _fake_chumpy():
    mod, sub = types.ModuleType("chumpy"), types.ModuleType("chumpy.ch")
    ch = type("Ch", (), {"__module__": "chumpy.ch"})
    sub.Ch, mod.ch = ch, sub
    return mod, sub, ch


def make_flame_standin(folder: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    v, f = uv_sphere()
    n = len(v)
    shapedirs = rng.normal(0, 2e-3, (n, 3, 400))
    weights = np.zeros((n, 5))
    weights[:, 0] = 1.0
    jaw = v[:, 1] < -0.02
    weights[jaw, 0], weights[jaw, 2] = 0.0, 1.0  # the lower part follows the jaw joint
    joints = np.zeros((5, n))
    joints[0] = 1.0 / n
    joints[1, v[:, 1] < -0.08] = 1.0
    joints[2, np.abs(v[:, 1]) < 0.01] = 1.0
    joints[3, (v[:, 1] > 0.02) & (v[:, 0] > 0.04)] = 1.0
    joints[4, (v[:, 1] > 0.02) & (v[:, 0] < -0.04)] = 1.0
    joints /= joints.sum(1, keepdims=True)
    mod, sub, ch = _fake_chumpy()

    def wrap(x):
        obj = ch()
        obj.__dict__["x"] = x
        return obj

    model = {
        "v_template": wrap(v),
        "f": f,
        "shapedirs": wrap(shapedirs),
        "posedirs": np.zeros((n, 3, 36)),
        "J_regressor": scipy.sparse.csc_matrix(joints),
        "weights": wrap(weights),
        "kintree_table": np.array([[4294967295, 0, 1, 1, 1], [0, 1, 2, 3, 4]], dtype=np.int64),
    }
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = mod, sub
    try:
        (folder / "FLAME_NEUTRAL.pkl").write_bytes(pickle.dumps(model, protocol=2))
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]
    front = np.flatnonzero(np.array([v[list(t)][:, 2].mean() > 0.03 for t in f]))
    emb = {"lmk_face_idx": rng.choice(front, 51).astype(np.int64), "lmk_b_coords": np.full((51, 3), 1 / 3)}
    (folder / "flame_static_embedding.pkl").write_bytes(pickle.dumps(emb, protocol=2))
    return folder
