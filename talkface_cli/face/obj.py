"""Minimal Wavefront OBJ reading (plain or gzip) and writing for meshes and mesh sequences."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from ..errors import TalkfaceError


def read_obj(path: Path, faces: bool = True) -> tuple[np.ndarray, list[list[int]] | None]:
    """Vertices (V, 3) float64 and, if asked, polygons as 0-based vertex index lists."""
    path = Path(path)
    try:
        raw = gzip.open(path, "rt").read() if path.suffix == ".gz" else path.read_text()
    except (OSError, EOFError, UnicodeDecodeError) as e:
        raise TalkfaceError(f"{path}: cannot read OBJ ({e})") from None
    verts, polys = [], []
    for line in raw.splitlines():
        if line.startswith("v "):
            verts.append(line[2:])
        elif faces and line.startswith("f "):
            polys.append([int(tok.split("/")[0]) - 1 for tok in line[2:].split()])
    if not verts:
        raise TalkfaceError(f"{path}: no vertices in OBJ")
    v = np.array(" ".join(verts).split(), dtype=np.float64).reshape(len(verts), -1)[:, :3]
    return v, (polys if faces else None)


def triangulate(polys: list[list[int]]) -> np.ndarray:
    """Fan-triangulate polygons: (F, 3) int64."""
    tris = [(p[0], p[i], p[i + 1]) for p in polys for i in range(1, len(p) - 1)]
    return np.asarray(tris, dtype=np.int64)


def write_obj(path: Path, verts: np.ndarray, faces: np.ndarray, header: str = "") -> None:
    lines = [f"# {h}" for h in header.splitlines()]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in verts]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces]
    Path(path).write_text("\n".join(lines) + "\n")


def write_ply(path: Path, verts: np.ndarray, faces: np.ndarray, header: str = "") -> None:
    """Binary little-endian PLY."""
    comments = "".join(f"comment {h}\n" for h in header.splitlines())
    head = (
        f"ply\nformat binary_little_endian 1.0\n{comments}element vertex {len(verts)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        f"element face {len(faces)}\nproperty list uchar int vertex_indices\nend_header\n"
    )
    tri = np.zeros(len(faces), dtype=[("n", "u1"), ("i", "<i4", 3)])
    tri["n"], tri["i"] = 3, faces
    with open(path, "wb") as f:
        f.write(head.encode())
        f.write(np.asarray(verts, dtype="<f4").tobytes())
        f.write(tri.tobytes())
