"""Tracked-video clips, shared by the video recipes (ravdess, hdtf, mead, folder).

Stage 1, per clip and in parallel: decode at 25 fps, track landmarks, take the audio; saved to
`tracks/<id>.npz` (resumable). Stage 2, per speaker: one identity shape fitted jointly over all
the speaker's tracked frames (kept in `speakers/<speaker>.json`, so later runs reuse it), then
every clip's expression and head pose with that shape, written to the store.
"""

from __future__ import annotations

import json
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from talkface_cli.audio.io import SAMPLE_RATE, audio_delay, delayed, load_audio
from talkface_cli.data.store import FPS, HOP, is_written, speaker_path, write_clip
from talkface_cli.errors import TalkfaceError
from talkface_cli.face.base import FaceModel
from talkface_cli.face.load import load_face_model
from talkface_cli.fsutil import atomic_write_json
from talkface_cli.track.fit import FitResult, fit_landmarks, loudness_db
from talkface_cli.track.mediapipe import FaceMeshTracker
from talkface_cli.track.video import (
    MAX_GAP,
    clock,
    face_runs,
    filled,
    frozen,
    open_video,
    runs_of,
    track_video,
)
from talkface_cli.ui import progress

from .audio import refuse_silence
from .base import Job, PrepOptions
from .inner import report
from .labels import part_id, part_labels
from .packed import local_copy

HOW = (
    "video decoded at 25 fps (the source frame nearest in time, by timestamp); MediaPipe BlazeFace + "
    "Face Mesh (bundled .tflite, ai-edge-litert); gaps <= 5 frames interpolated, a longer one (or a "
    "picture still for >= 1 s over speech: a photo, a frozen video), a change of shot (PySceneDetect's "
    "content rule) or a face box jumping to another face (IoU < 0.5) cuts the video into parts "
    "(stretches of >= 1 s with one face: <id>, <id>+part2, ...); face model fitted to iBUG landmarks "
    "17-67 by batched least squares with temporal smoothness, one shape per speaker; "
    "audio 16 kHz mono (the mean of the channels that carry sound), shifted onto the picture's clock by "
    "the streams' start times; frames after the sound ends are left out"
)
# Recipes that take video (and the audio of any file) write different clips for the same input
# since 2: sound mixed as the mean of its channels (was ffmpeg's 1/sqrt(2) sum, stereo 3 dB
# louder), frames after the sound ends left out. Since 3: a face missed for longer than MAX_GAP
# frames cuts the video into parts (before, those frames were fitted to landmarks of zeros: an
# infinite head translation, a blank render, a face the fit made up), and a video whose sound is
# silent is refused, as an audio file is (it was written: a face talking over silence). Since 4: a
# picture still for FROZEN frames over speech (a photo, a call's frozen picture) cuts the video
# as a missed face does (before, its frames were fitted as a face holding still while it spoke).
# Since 5: a change of shot or a jump to another face cuts it too (before, the fit's smoothness ran
# across the cut, the tracker took two frames to find the face of the new shot, and a clip could go
# on with another person's face after the tracker lost the first for a frame). Since 6: frames of
# pixels that are not square (DV, DVD, HDV, broadcast) are stretched to the picture's shape (before,
# their faces were tracked and fitted about 20% too narrow or too wide).
VERSION = 6
MIN_PART = FPS  # frames: a stretch with the face shorter than 1 s between misses is left out
_TRACKER: FaceMeshTracker | None = None


def track_path(out: Path, clip_id: str) -> Path:
    return out / "tracks" / f"{clip_id}.npz"


def track_clip(job: Job, out: Path, opts: PrepOptions) -> None:
    """Stage 1: landmarks (68 iBUG points from the 468) and audio of one video."""
    global _TRACKER  # one tracker per worker process
    path = track_path(out, job.id)
    if path.is_file():
        return
    separate = job.labels.get("audio_source")  # MEAD keeps the sound in its own file
    with ExitStack() as files:  # a file, or an archive's member copied out while it is read
        video = files.enter_context(local_copy(job.source, path.parent))
        open_video(video)[0].release()  # fail fast: not a video, or no audio
        if separate:
            audio = load_audio(files.enter_context(local_copy(separate, path.parent)))
        else:  # the video's own sound, put on the picture's clock
            audio = delayed(load_audio(video), audio_delay(video))
        span = job.labels.get("span")  # HDTF: the part of a full-length video its annotations give
        if span:
            audio = audio[round(span[0] * SAMPLE_RATE) : round(span[1] * SAMPLE_RATE)]
        _TRACKER = _TRACKER or FaceMeshTracker()
        track = track_video(video, _TRACKER, tuple(span) if span else None, report=report)
    frames = sound_frames(len(track.found), len(audio), job.source)
    audio = np.pad(audio, (0, max(0, frames * HOP - len(audio))))[: frames * HOP]  # under the picture
    still = frozen_over_speech(frozen(track.still[:frames]), audio)  # no face to learn speech from
    lmk, found = track.landmarks[:frames], track.found[:frames] & ~still
    starts = track.starts[:frames] & found
    usable = filled(found)
    moving, why = still_note(still)
    if 1 - usable.mean() > opts.max_miss:
        raise TalkfaceError(
            f"{job.source}: face found{moving} in only {usable.mean():.0%} of frames "
            f"({why}more than {opts.max_miss:.0%} missed; --max-miss allows more)"
        )
    if not parts(job.id, found, starts):
        shots = ", or the shot or face changes" if face_runs(found, starts) != face_runs(found) else ""
        raise TalkfaceError(
            f"{job.source}: no stretch of {MIN_PART / FPS:.0f} s with the face found{moving} "
            f"({why}it is missed for more than {MAX_GAP} frames at a time{shots})"
        )
    refuse_silence(audio, job.source, "; a face talking over silence would teach the lips to move without it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        lmk68=lmk,
        found=found,
        starts=starts,
        size=np.array(track.size),
        audio=audio.astype(np.float32),
        src_fps=track.src_fps,
    )
    tmp.replace(path)


def frozen_over_speech(still: np.ndarray, audio: np.ndarray) -> np.ndarray:
    """(T,) bool: the runs of `still` frames (T,) during which speech is heard in `audio` (T * HOP
    samples): a frame within 30 dB of the loudest (its 99th percentile), the rule of the EDE's
    `speech_frames`, in numpy (torch in a forked prep worker can crash it). A picture still over
    silence (a rendered face at rest, a call's picture frozen while nobody speaks) shows what a
    face does then, and stays."""
    db = loudness_db(audio, len(still))  # (T,)
    heard = db >= np.percentile(db, 99) - 30
    out = np.zeros(len(still), bool)
    for a, b in runs_of(still):
        out[a:b] = heard[a:b].any()
    return out


def still_note(still: np.ndarray) -> tuple[str, str]:
    """(" moving", "the picture is still for 3.2 s from 00:00, ...; ") for an error about a video
    whose (T,) frames are `still` in places; ("", "") where none is."""
    if not still.any():
        return "", ""
    first = clock(np.flatnonzero(still)[0] / FPS)
    return (
        " moving",
        f"its picture is still for {still.sum() / FPS:.1f} s from {first}: a photo or frozen video; ",
    )


def sound_frames(picture: int, samples: int, source: str) -> int:
    """How many of a video's `picture` frames to keep: those the sound reaches. A sound track that
    ends early would pair a talking face with silence (a training pair that teaches the lips to
    move without speech)."""
    frames = min(picture, -(-samples // HOP))
    if frames < 2:
        raise TalkfaceError(f"{source}: its sound does not reach past the first frame of its picture")
    return frames


def parts(clip_id: str, found: np.ndarray, starts: np.ndarray) -> list[tuple[str, slice]]:
    """The clips a tracked video gives, (id, frames): its stretches with one face (`face_runs`) of
    at least MIN_PART frames, the first under the video's own id, the others `<id>+part2`, ...;
    a video whose face is never missed for long and never changes is one clip, however short."""
    runs = face_runs(found, starts)
    if runs != [(0, len(found))]:
        runs = [(a, b) for a, b in runs if b - a >= MIN_PART]
    return [(part_id(clip_id, k), slice(a, b)) for k, (a, b) in enumerate(runs, 1)]


def fit_speakers(jobs: list[Job], out: Path, opts: PrepOptions) -> list[dict]:
    """Stage 2: per speaker, fit the shape once and every pending clip; returns per-clip errors."""
    by_speaker: dict[str, list[Job]] = defaultdict(list)
    for j in jobs:
        if j.kind == "video" and not is_written(out, j.id) and track_path(out, j.id).is_file():
            by_speaker[str(j.labels["speaker"])].append(j)
    if not by_speaker:
        return []
    model = load_face_model(opts.face_model, flame=opts.flame_model)
    errors: list[dict] = []
    with progress() as bar:  # after the tracking bar; 5 min of one speaker fits in about 5 s
        task = bar.add_task("fit faces", total=sum(map(len, by_speaker.values())), unit="video")
        for speaker, group in sorted(by_speaker.items()):
            errors += fit_speaker(out, speaker, group, model, opts)
            bar.advance(task, len(group))
    return errors


def fit_speaker(out: Path, speaker: str, group: list[Job], model: FaceModel, opts: PrepOptions) -> list[dict]:
    """One speaker's shape (kept in speakers/, or fitted now) and the clips of its tracked videos;
    returns per-video errors. A video cut into parts is written last part first: its own id,
    written last, marks it done."""
    tracks = [dict(np.load(track_path(out, j.id))) for j in group]
    cuts = [parts(j.id, t["found"], t["starts"]) for j, t in zip(group, tracks)]
    pieces = [[t["lmk68"][frames] for _, frames in cut] for t, cut in zip(tracks, cuts)]  # (T_k, 68, 2)
    lengths = [[len(p) for p in ps] for ps in pieces]
    sizes = {tuple(t["size"]) for t in tracks}
    spk_file = speaker_path(out, speaker)
    shape = np.array(json.loads(spk_file.read_text())["shape"], np.float32) if spk_file.is_file() else None
    try:
        if len(sizes) == 1:
            lmk = np.concatenate([p for ps in pieces for p in ps])
            flat = [n for ns in lengths for n in ns]
            fit = fit_landmarks(model, lmk, sizes.pop(), shape=shape, segments=flat, seed=opts.seed)
            fits = _split(fit, flat)
        else:  # different frame sizes: shape from the first clip, then one fit per video
            fits = []
            for t, ps, ns in zip(tracks, pieces, lengths):
                f = fit_landmarks(
                    model, np.concatenate(ps), tuple(t["size"]), shape=shape, segments=ns, seed=opts.seed
                )
                fits += _split(f, ns)
                shape = fits[-1].shape if shape is None else shape
    except (RuntimeError, ValueError) as e:
        return [{"id": j.id, "source": j.source, "error": f"fitting failed: {e}"} for j in group]
    if not spk_file.is_file():
        atomic_write_json(
            spk_file,
            {
                "speaker": speaker,
                "face_model": model.kind,
                "shape": fits[0].shape.tolist(),
                "clips": sum(map(len, cuts)),
            },
        )
    fits_of, errors = iter(fits), []
    for j, t, cut in zip(group, tracks, cuts):
        written = [(clip_id, frames, next(fits_of)) for clip_id, frames in cut]
        try:
            write_parts(out, j, t, written, model)
        except TalkfaceError as e:  # a fit gone to infinity: that video alone
            errors.append({"id": j.id, "source": j.source, "error": str(e)})
    return errors


def write_parts(
    out: Path, j: Job, t: dict, written: list[tuple[str, slice, FitResult]], model: FaceModel
) -> None:
    """Write the clips of one tracked video `t`: (id, frames, fit) of each part, the first last."""
    for k, (clip_id, frames, f) in reversed(list(enumerate(written))):
        arrays = {
            "audio": t["audio"][frames.start * HOP : frames.stop * HOP],
            "params": f.params,
            "param_names": np.array(model.param_names),
            "face_model": model.kind,
            "pose": f.pose,
            "shape": f.shape,
            "landmarks": t["lmk68"][frames],
        }
        whole = (frames.start, frames.stop) == (0, len(t["found"]))
        part = {"part_of": j.id, "part": k + 1, "parts": len(written), "start_s": frames.start / FPS}
        record = {
            "id": clip_id,
            "source": j.source,
            **(j.labels if whole else part_labels(j.labels, j.id) | part),
            "fit_nme": round(float(f.nme.mean()), 5),
            "tracked_fraction": round(float(t["found"][frames].mean()), 4),
        }
        write_clip(out, record, arrays)


def _split(fit: FitResult, lengths: list[int]) -> list[FitResult]:
    out, start = [], 0
    for n in lengths:
        sl = slice(start, start + n)
        out.append(FitResult(fit.params[sl], fit.pose[sl], fit.shape, fit.nme[sl], fit.model_landmarks[sl]))
        start += n
    return out
