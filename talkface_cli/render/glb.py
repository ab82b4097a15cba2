"""The binary glTF 2.0 container (.glb): arrays packed into one buffer with their accessors, the
file's two chunks, and reading them back."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

from ..errors import TalkfaceError

FLOAT, UINT, UBYTE = 5126, 5125, 5121  # glTF component types
MAGIC, JSON_CHUNK, BIN_CHUNK = 0x46546C67, 0x4E4F534A, 0x004E4942


class Packer:
    """Arrays into one binary buffer, each with its bufferView and accessor (4-byte aligned)."""

    def __init__(self):
        self.chunks: list[bytes] = []
        self.views: list[dict] = []
        self.accessors: list[dict] = []
        self.offset = 0

    def add(
        self,
        array: np.ndarray,
        kind: str,
        target: int | None = None,
        component: int = FLOAT,
        bounds: bool = False,
    ) -> int:
        """Index of the accessor of `array` ((n, width) or (n,)); `bounds`: with min and max, which
        glTF asks of positions and animation times."""
        data = np.ascontiguousarray(array, {UINT: np.uint32, UBYTE: np.uint8}.get(component, np.float32))
        raw = data.tobytes()
        view = {"buffer": 0, "byteOffset": self.offset, "byteLength": len(raw)}
        self.views.append(view if target is None else {**view, "target": target})
        rows = data.reshape(len(data), -1)
        accessor = {
            "bufferView": len(self.views) - 1,
            "componentType": component,
            "count": len(rows),
            "type": kind,
        }
        if bounds:
            accessor |= {"min": rows.min(0).tolist(), "max": rows.max(0).tolist()}
        self.accessors.append(accessor)
        self.chunks.append(raw + b"\0" * (-len(raw) % 4))
        self.offset += len(self.chunks[-1])
        return len(self.accessors) - 1

    def data(self) -> bytes:
        return b"".join(self.chunks)

    def document(self) -> dict:
        return {
            "buffers": [{"byteLength": self.offset}],
            "bufferViews": self.views,
            "accessors": self.accessors,
        }


def glb_file(document: dict, data: bytes) -> bytes:
    """GLB: a 12-byte header, the JSON chunk (space-padded) and the binary chunk (zero-padded)."""
    doc = json.dumps(document, separators=(",", ":")).encode()
    doc += b" " * (-len(doc) % 4)
    data += b"\0" * (-len(data) % 4)
    size = 12 + 8 + len(doc) + 8 + len(data)
    head = struct.pack("<III", MAGIC, 2, size)
    return (
        head
        + struct.pack("<II", len(doc), JSON_CHUNK)
        + doc
        + struct.pack("<II", len(data), BIN_CHUNK)
        + data
    )


def read_glb(path: Path) -> tuple[dict, bytes]:
    """The JSON document and binary chunk of a .glb."""
    raw = Path(path).read_bytes()
    if len(raw) < 20 or struct.unpack_from("<II", raw) != (MAGIC, 2):
        raise TalkfaceError(f"{path}: not a binary glTF 2.0 file")
    n, kind = struct.unpack_from("<II", raw, 12)
    if kind != JSON_CHUNK:
        raise TalkfaceError(f"{path}: a glTF file without its JSON chunk first")
    doc = json.loads(raw[20 : 20 + n])
    rest = raw[20 + n :]
    return doc, rest[8 : 8 + struct.unpack_from("<I", rest)[0]] if len(rest) >= 8 else b""
