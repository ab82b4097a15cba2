"""Whether a store's face clips are in step with their sound, as a trained sync expert reads them
(the check LRS's and HDTF's pipelines run SyncNet for): per clip, the audio offset with the
smallest distance (positive: the sound lags the face) and LSE-D / LSE-C. A video whose sound was
shifted (a camera's sound from another recorder, muxed in by hand) or whose face is not the
voice's (an interviewer heard over the guest's face) would train the lips on the wrong sound.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..audio.features import cached_features, trained_content_encoder
from ..data.store import load_clip, read_manifest
from ..errors import TalkfaceError
from ..face.load import load_face_model
from ..registry import Registry
from ..ui import progress
from .sync import MAX_OFFSET, embed_sequence, offset_distances, stats_from_distances

# frames (40 ms): an offset within this is in step. People see a lip-sync error from about 45 ms
# of sound lead or 125 ms of lag (ITU-R BT.1359); the expert's best offset wanders by a frame.
TOLERANCE = 1
CHANCE = 0.95  # quantile of the clips' LSE-C against their sound rolled half-way, to be passed
SHORTEST = 2 * MAX_OFFSET + 6  # frames: half the clip's windows lie beyond the offsets searched


@torch.no_grad()
def store_sync(store: Path, sync: str, device: torch.device) -> list[dict]:
    """Each face clip of `store`, in manifest order, one at a time (a large store is not held in
    memory): {"id", "offset", "lse_d", "lse_c", "sync"}, where "sync" is "in step", "off" (beyond
    TOLERANCE) or "unclear": an LSE-C no higher than the expert gives lips against a sound they do
    not follow (CHANCE of the clips' LSE-C with their audio windows rolled by half the clip, so no
    offset searched lines them up), so its best offset means nothing (a voice over someone else's
    face, or faces the expert never learnt to read). Other clips' sound would not do for that: a
    corpus says the same sentence in every emotion, which the lips follow. A clip under SHORTEST
    frames is too short to roll that far: "sync": "too short"."""
    expert = Registry().load_model(sync, device, kind="sync").eval()
    encoder = trained_content_encoder(expert.cfg, sync)
    records = [r for r in read_manifest(store) if r.get("face_model")]
    if not records:
        raise TalkfaceError(f"{store}: no clips with a face (audio alone), nothing for a sync check")
    out, chance = [], []
    with progress() as bar:
        job = bar.add_task(f"sync check ({sync})", total=len(records), unit="clip")
        for r in records:
            frames = int(r["frames"])
            if frames < SHORTEST:
                out.append({"id": r["id"], "offset": None, "lse_d": None, "lse_c": None, "sync": "too short"})
            else:
                arrays = load_clip(store, r["id"])
                content = cached_features(store, r["id"], encoder, arrays["audio"], frames)
                params = torch.from_numpy(np.asarray(arrays["params"], np.float32))
                lips = load_face_model(str(arrays["face_model"])).lip_motion(params)  # (T, 20, 3)
                v, a = embed_sequence(expert, torch.from_numpy(content).float(), lips.float())
                out.append({"id": r["id"], **stats_from_distances(offset_distances(v, a)).as_dict()})
                rolled = torch.roll(a, len(a) // 2, dims=0)  # (T-4, W): every window far from its own
                chance.append(stats_from_distances(offset_distances(v, rolled)).lse_c)
            bar.advance(job)
    level = float(np.quantile(chance, CHANCE)) if chance else float("inf")
    for row in out:
        if row["offset"] is not None:
            read = row["lse_c"] > level
            row["sync"] = "unclear" if not read else "off" if abs(row["offset"]) > TOLERANCE else "in step"
    return out


def lag(offset: int, fps: int = 25) -> str:
    """An offset in frames as what a user hears: "the sound 240 ms late" / "early" / "in step"."""
    if offset == 0:
        return "in step"
    return f"the sound {abs(offset) * 1000 // fps} ms {'late' if offset > 0 else 'early'}"
