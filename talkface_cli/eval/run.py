"""`talkface eval`: score EMG models and baselines on one split of a clip store, EcoFace Table 1
style, with breakdowns per emotion, intensity and speaker.

Rows: each model (emotion from the clip's own speech; its speaker when seen in training, else the
speaker average), the template (neutral face), the mean face (training-set mean parameters), the
ground truth itself (a reference for the sync and emotion columns) and the ground truth with its
audio delayed by 10 frames (a sync sanity row: LSE-D must get worse).
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..audio.features import encode
from ..data.datasets import Clip, load_clips
from ..data.provenance import seen_in_training
from ..data.renders import render_params
from ..errors import TalkfaceError
from ..eval import emotion_space as es
from ..face.base import FaceModel
from ..inference.animate import Animator
from ..inference.emotion import centroid_classes, motion_emotion, pooled, speech_emotion
from ..inference.generate import generate, speaker_condition
from ..made_by import digest, record
from ..models.ede import EDE
from ..models.sync import SyncExpert
from ..registry import Registry, code_version
from ..ui import console, progress
from .kept import KeptScores, key
from .metrics import frechet_distance, lve, vertex_scores
from .predictions import find_predictions, load_prediction
from .sync import delay, sync_stats

SHIFT = 10  # frames the audio of the sanity row is delayed by
BASELINES = ("template", "mean face", "ground truth", f"GT, audio +{SHIFT}")  # rows after the models
REFERENCES = BASELINES[2:]  # the ground truth's rows: what a method is measured against
COLUMNS = {  # key: header with units
    "lve": "LVE (mm, max L2)",
    "lve_sq": "LVE (mm², max squared L2)",
    "eve": "EVE (mm)",
    "fdd": "FDD (mm, GT - pred)",
    "lse_d": "LSE-D (dist.)",
    "lse_c": "LSE-C (dist.)",
    "ve_fid": "VE-FID",
    "emotion_acc": "emotion acc. (%)",
    "rtf": "real-time factor (x)",
}


@dataclass
class Row:
    name: str
    per_clip: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    features: list[np.ndarray] = field(default_factory=list)  # video emotion features per clip
    seconds: float = 0.0  # generation time (models only)

    def add(self, scored: dict) -> None:
        """One clip's `score` (as kept: lists and Python numbers)."""
        for k, v in scored["metrics"].items():
            self.per_clip[k].append(float(v))
        self.features.append(np.asarray(scored["feature"], np.float32))
        self.seconds += scored.get("seconds", 0.0)


@dataclass
class EvalSetup:
    face: FaceModel
    ede: EDE  # emotion accuracy (its video centroids)
    sync: SyncExpert
    features_ede: EDE  # VE-FID features (the same EDE unless --emotion-features)
    syncnet: torch.nn.Module | None = None


def sequences(
    anim: Animator, clip: Clip, temperature: float, seed: int, emotion: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, float]:
    """The model's parameters (T, D) for a clip (emotion from its own speech unless an embedding
    is given), the content features (2T, Dc) it used, and the seconds it took."""
    t0 = time.perf_counter()
    spk = str(clip.record.get("speaker"))
    cond = speaker_condition(anim.emg, spk if spk in anim.emg.cfg.speakers else None)
    emb = pooled(speech_emotion(anim.ede, clip.audio)) if emotion is None else emotion
    content = encode(anim.encoder, clip.audio, clip.frames)
    pred = generate(
        anim.emg, content, np.repeat(emb[None], 2 * clip.frames, 0), cond, clip.frames, temperature, seed
    )
    return pred, content, time.perf_counter() - t0


def lip_sync(
    setup: EvalSetup, content: np.ndarray, params: np.ndarray, audio: np.ndarray
) -> tuple[float, float]:
    """(LSE-D, LSE-C) of a parameter sequence against its speech."""
    if setup.syncnet is not None:
        from .syncnet_official import FRAME, official_stats

        frames = render_params(setup.face, params, None, FRAME)
        s = official_stats(setup.syncnet, np.repeat(frames[..., None], 3, -1), audio)
    else:
        lips = setup.face.lip_motion(torch.from_numpy(params).float())
        s = sync_stats(setup.sync, torch.from_numpy(content).float(), lips)
    return s.lse_d, s.lse_c


@torch.no_grad()
def score(setup: EvalSetup, clip: Clip, params: np.ndarray, content: np.ndarray, audio: np.ndarray) -> dict:
    """One clip's metrics for one row, and its video emotion feature (for VE-FID)."""
    face = setup.face
    tensor = lambda p: torch.from_numpy(np.asarray(p, np.float32))  # noqa: E731
    metrics = vertex_scores(face, tensor(params), tensor(clip.params))
    metrics["lse_d"], metrics["lse_c"] = lip_sync(setup, content, params, audio)
    z = motion_emotion(setup.ede, face, params)
    names, cents = centroid_classes(setup.ede, "video")
    # No reading of a clip whose label the video branch has no centroid for (MEAD's contempt for a
    # RAVDESS EDE; any label for an EDE that never saw a face): it could only miss.
    metrics["emotion_acc"] = float("nan")
    if clip.record["emotion"] in names:
        hit = es.nearest_centroid(z[None], names, cents)[0] == clip.record["emotion"]
        metrics["emotion_acc"] = 100.0 * hit
    feature = z if setup.features_ede is setup.ede else motion_emotion(setup.features_ede, face, params)
    return {"metrics": metrics, "feature": feature}


def emotion_means(clips: list[Clip]) -> dict[str, np.ndarray]:
    """Per emotion label, the mean ground-truth parameters (D,) of its clips (each clip's frame
    mean, clips weighted equally)."""
    groups: dict[str, list[np.ndarray]] = defaultdict(list)
    for c in clips:
        groups[c.record["emotion"]].append(c.params.mean(0))
    return {e: np.mean(v, 0) for e, v in groups.items()}


def swap_scores(
    anim: Animator, setup: EvalSetup, clips: list[Clip], temperature: float, seed: int, kept: KeptScores
) -> dict:
    """Emotion swaps within the split: each clip's speech animated with the emotion of the next clip
    (in order) of another emotion. Accuracy = how often the EDE video probe classifies the swapped
    motion as the reference's emotion; LVE against the content clip's ground truth, plain vs
    swapped. Yardstick: the LVE of the content GT moved by the difference of the two emotions'
    mean faces in this split (perfect lips, the emotion changed by its average effect), which is
    what a swap must cost where emotions move the mouth."""
    hits, plain, swapped, shifted = [], [], [], []  # hits: of swaps whose reference's label the EDE has
    clips = [c for c in clips if c.record.get("emotion")]  # a swap's yardstick needs both labels
    means = emotion_means(clips)
    lip_error = lambda p, gt: lve(setup.face, *(torch.from_numpy(np.asarray(x, np.float32)) for x in (p, gt)))  # noqa: E731
    names, cents = centroid_classes(setup.ede, "video")

    def swap(c: Clip, ref: Clip, shift: np.ndarray) -> dict:
        pred, _, _ = sequences(anim, c, temperature, seed, pooled(speech_emotion(anim.ede, ref.audio)))
        own, _, _ = sequences(anim, c, temperature, seed)
        hit = None
        if ref.record["emotion"] in names:
            z = motion_emotion(setup.ede, setup.face, pred)
            hit = bool(es.nearest_centroid(z[None], names, cents)[0] == ref.record["emotion"])
        lips = (lip_error(own, c.params), lip_error(pred, c.params), lip_error(c.params + shift, c.params))
        return {"hit": hit, "lve": lips}

    for i, c in enumerate(clips):
        ref = next(
            (r for r in clips[i + 1 :] + clips[:i] if r.record["emotion"] != c.record["emotion"]), None
        )
        if ref is None:
            continue
        shift = means[ref.record["emotion"]] - means[c.record["emotion"]]  # (D,)
        made = lambda c=c, ref=ref, shift=shift: swap(c, ref, shift)  # noqa: E731
        done = kept.scored(f"swap-{key(clip_key(c), clip_key(ref), shift)}", made)
        if done["hit"] is not None:
            hits.append(done["hit"])
        for into, value in zip((plain, swapped, shifted), done["lve"]):
            into.append(value)
    if not plain:
        return {}
    rise = lambda x: 100.0 * (float(np.mean(x)) / float(np.mean(plain)) - 1)  # noqa: E731
    return {
        "swaps": len(plain),
        "swaps_read": len(hits),  # accuracy is over these (see `score`)
        "accuracy_pct": 100.0 * float(np.mean(hits)) if hits else float("nan"),
        "lve_plain_mm": float(np.mean(plain)),
        "lve_swapped_mm": float(np.mean(swapped)),
        "lve_rise_pct": rise(swapped),
        "lve_gt_emotion_shift_mm": float(np.mean(shifted)),
        "lve_gt_emotion_shift_rise_pct": rise(shifted),
    }


def mean(key: str, values: list[float]) -> float:
    """A metric's mean over clips; emotion accuracy over the clips it could read (NaN: none)."""
    if key == "emotion_acc":
        values = [v for v in values if not math.isnan(v)]
        if not values:
            return float("nan")
    return float(np.mean(values))


def summarise(row: Row, gt_features: np.ndarray, frames: int) -> dict[str, float]:
    out = {k: mean(k, v) for k, v in row.per_clip.items()}
    out["ve_fid"] = (
        frechet_distance(gt_features, np.stack(row.features)) if len(row.features) > 1 else float("nan")
    )
    out["rtf"] = frames / 25 / row.seconds if row.seconds else float("nan")
    return out


def breakdown(row: Row, clips: list[Clip]) -> dict[str, dict[str, dict[str, float]]]:
    """Per emotion, intensity and speaker: the mean of each per-clip metric. Clips without the
    label are the group "unlabelled"; a label no clip has (HDTF's and VOCASET's emotion and
    intensity) gives no breakdown."""
    out: dict = {}
    for by in ("emotion", "intensity", "speaker"):
        groups: dict[str, list[int]] = defaultdict(list)
        for i, c in enumerate(clips):
            label = c.record.get(by)
            groups["unlabelled" if label is None else str(label)].append(i)
        if set(groups) == {"unlabelled"}:
            continue
        out[by] = {
            g: {k: mean(k, [v[i] for i in idx]) for k, v in row.per_clip.items()} | {"clips": len(idx)}
            for g, idx in sorted(groups.items())
        }
    return out


def scored_clips(stores: list[Path], split: str, limit: int | None = None) -> list[Clip]:
    """The clips an evaluation scores: with a face, of at least 20 frames (the first `limit`); a
    one-line error when there are none. Clips without an emotion label (HDTF's, VOCASET's: the
    paper scores lip sync and VE-FID on them) are scored on all but emotion accuracy and swaps."""
    clips = [c for c in load_clips(stores, (split,), need_face=True) if c.frames >= 20]
    clips = clips[:limit] if limit else clips
    if not clips:
        raise TalkfaceError(f"{stores[0]}: no clips with a face of at least 20 frames in split {split!r}")
    return clips


def clip_key(clip: Clip, *files: Path) -> str:
    """What a clip's scores come from: its record (labels), speech (its fingerprint, computed once
    for the held-out check), parameters and identity, and the bytes of the prediction files scored
    for it."""
    record = json.dumps(clip.record, sort_keys=True, default=str)
    return key(record, clip.sound, clip.params, clip.shape, *map(digest, files))


def entry_digests(reg: Registry, entries: list[str]) -> dict[str, list[str]]:
    """Per registry entry, the sha256 of its weights, config and record (an EMG's mean face is in it)."""
    files = ("model.safetensors", "config.json", "meta.json")
    return {e: [digest(reg.read(e).path / f) for f in files] for e in dict.fromkeys(entries)}


def work_record(models: dict[str, list[str]], syncnet: Path | None, settings: dict) -> str:
    """What every clip's scores share: the code, the models (`entry_digests`), the official
    SyncNet's weights and the settings."""
    return record("eval", models=models, syncnet=syncnet and digest(syncnet), **settings)


def check_held_out(reg: Registry, names: list[str], clips: list[Clip], split: str) -> dict[str, bool]:
    """Refuse scores that would not be held out: a model (an EMG, or the EDE or sync expert an
    evaluation reads with) that trained on any of the scored clips. Scoring the train split is
    asked for, so it is not checked. Returns, per model, whether it kept a record to check."""
    checked = {}
    for name in dict.fromkeys(names):
        seen = seen_in_training(reg.read(name).path, clips) if split != "train" else None
        checked[name] = seen is not None
        if seen:
            raise TalkfaceError(
                f"{name} trained on {len(seen)} of the {len(clips)} clips of split {split!r} (e.g. "
                f"{seen[0]}), or on other files of their recordings: the store was split again after "
                "it trained, or its training data holds them too, so its scores would not be held "
                "out; evaluate a split it did not train on, or train it again"
            )
    return checked


def evaluate(
    models: list[str],
    stores: list[Path],
    split: str,
    device: torch.device,
    syncnet: Path | None = None,
    emotion_features: str | None = None,
    temperature: float = 0.5,
    seed: int = 0,
    limit: int | None = None,
    swaps: bool = False,
    predictions: list[Path] = (),
    report: Path | None = None,
) -> dict:
    """The whole evaluation as one JSON-able dict: `table` (rows x metrics), `breakdown` (first
    model), `clips`, `setup`. Models score in the order given, then other methods' `predictions`
    (folders, `eval.predictions`); baselines follow. With `report` (its folder), each clip's scores
    are kept there as they are made, and an evaluation of the same work goes on from them."""
    reg = Registry()
    anims = [Animator.load(m, device) for m in models]
    first = anims[0]
    clips = scored_clips(stores, split, limit)
    if any(c.face_model != first.face.kind for c in clips):
        raise TalkfaceError(f"{stores[0]}: clips are not all {first.face.kind} parameters, as the model is")
    names = list(models)
    for folder in predictions:  # a row each, named by the folder
        if (name := Path(folder).resolve().name) in (*names, *BASELINES):
            raise TalkfaceError(f"--predictions {folder}: a row is named {name} already; rename the folder")
        names.append(name)
    found = [find_predictions(p, [c.id for c in clips]) for p in predictions]  # all, before any scoring
    sync_name = str(reg.parent(reg.read(models[0]), "sync"))
    readers = [str(reg.parent(reg.read(m), k)) for m in models for k in ("ede", "sync")]
    checked = check_held_out(
        reg, [*models, *readers, *([emotion_features] if emotion_features else [])], clips, split
    )
    setup = EvalSetup(
        face=first.face,
        ede=first.ede,
        sync=reg.load_model(sync_name, device, kind="sync"),
        features_ede=reg.load_model(emotion_features, device, kind="ede") if emotion_features else first.ede,
    )
    if syncnet is not None:
        from .syncnet_official import load_syncnet

        setup.syncnet = load_syncnet(syncnet).to(device)
    mean = np.array(reg.read(models[0]).meta["mean_params"], np.float32)
    rows = [Row(m) for m in names] + [Row(b) for b in BASELINES]
    used = [*models, *readers, sync_name, *([emotion_features] if emotion_features else [])]
    settings = {"rows": names, "temperature": temperature, "seed": seed, "device": device.type}
    digests = entry_digests(reg, used)
    kept = KeptScores(report, work_record(digests, syncnet, settings) if report else "")
    if kept.before:
        console.print(
            f"note: {report}: going on from the {kept.before} score(s) its evaluation kept before it "
            "stopped (the same models, settings and clips)",
            highlight=False,
        )

    def scored(c: Clip) -> dict:
        """Every row's scores of clip `c`, and each vertex prediction's fit residual (m)."""
        out, fits = {}, {}
        contents = []
        for anim, name in zip(anims, models):
            pred, content, secs = sequences(anim, c, temperature, seed)
            out[name] = score(setup, c, pred, content, c.audio) | {"seconds": secs}
            contents.append(content)
        content = contents[0]  # the rest are scored with the first model's content encoder
        for files, name in zip(found, names[len(models) :]):
            params, fits[name] = load_prediction(files[c.id], setup.face, c.frames, c.shape)
            out[name] = score(setup, c, params, content, c.audio)
        template, mean_face, gt, late = BASELINES
        out[template] = score(setup, c, np.zeros_like(c.params), content, c.audio)
        out[mean_face] = score(setup, c, np.repeat(mean[None], c.frames, 0), content, c.audio)
        out[gt] = score(setup, c, c.params, content, c.audio)
        shifted = delay(c.audio, SHIFT)
        out[late] = score(setup, c, c.params, encode(first.encoder, shifted, c.frames), shifted)
        return {"rows": out, "fitted": {k: v for k, v in fits.items() if v is not None}}

    fitted: dict[str, list[float]] = {}  # per vertex-prediction row: each clip's fit residual (m)
    with progress() as bar:
        job = bar.add_task(f"eval {split}", total=len(clips), unit="clip")
        for c in clips:
            done = kept.scored(f"clip-{clip_key(c, *(f[c.id] for f in found))}", lambda c=c: scored(c))
            for row in rows:
                row.add(done["rows"][row.name])
            for name, residual in done["fitted"].items():
                fitted.setdefault(name, []).append(residual)
            bar.advance(job)
    gt = np.stack(rows[len(names) + BASELINES.index("ground truth")].features)
    total_frames = sum(c.frames for c in clips)
    read = centroid_classes(setup.ede, "video")[0]
    swap = swap_scores(first, setup, clips, temperature, seed, kept) if swaps else {}
    return {
        "swap": swap,
        "columns": COLUMNS,
        "rows": [r.name for r in rows],  # the table's order (JSON objects are written key-sorted)
        "baselines": list(BASELINES),
        "references": list(REFERENCES),
        "table": {r.name: summarise(r, gt, total_frames) for r in rows},
        "breakdown": breakdown(rows[0], clips),
        "clips": [c.id for c in clips],
        "setup": {
            "models": models,
            "predictions": [str(p) for p in predictions],
            # vertex predictions, fitted to the face model: mean distance left, millimetres
            "predictions_fit_mm": {name: 1e3 * float(np.mean(r)) for name, r in fitted.items()},
            "data": [str(s) for s in stores],
            "split": split,
            "held_out_checked": checked,  # per model: it kept a record of its training clips
            # labels outside the reading EDE's video classes: no emotion accuracy for those clips
            "emotions_unread": sorted({str(c.record.get("emotion")) for c in clips} - set(read) - {"None"}),
            "emotion_read_clips": sum(c.record.get("emotion") in read for c in clips),
            "unlabelled_clips": sum(not c.record.get("emotion") for c in clips),
            "sync": "official SyncNet (syncnet_v2) on clay renders"
            if syncnet
            else f"toolkit expert {sync_name}",
            "emotion_features": emotion_features or reg.read(models[0]).meta["ede"],
            "temperature": temperature,
            "seed": seed,
            "device": str(device),
            # which code and which weights made these numbers (a model retrained under its name differs)
            "code": code_version(),
            "weights_sha256": {e: d[0] for e, d in digests.items()},
        },
    }
