"""Parameters tracked elsewhere: `talkface prep import ROOT --format emoca|etf|vertices|livelink`.

- emoca: one `.npz` per clip from EMOCA/DECA-style trackers with FLAME codes: expression
  (`exp`|`expcode`|`expression`, first 50 used), jaw (`jaw`|`jaw_pose`, or the last 3 of
  `pose`|`posecode`), global rotation (first 3 of `pose`|`posecode`, or `global_pose`), shape
  (`shape`|`shapecode`|`betas`, averaged over frames). Stored as face model `flame` (50 + 3).
- etf: EmoTalk / 3D-ETF `.npy` arrays (T, 52) of ARKit curves, mapped to ICT-FaceKit.
- livelink: Live Link Face takes (an iPhone's ARKit capture, a timecoded CSV and a .mov with the
  sound), mapped to ICT-FaceKit on the timecode clock (`face/take.py`); a take's speaker is the
  folder that holds its folder (`take_speaker`), and a labels CSV may name a take by its folder.
- vertices: `.npy` vertex sequences (T, 3V) as FaceFormer, CodeTalker and UniTalker keep VOCASET,
  with `--templates templates.pkl`, fitted to the face model of their topology (`vertices.py`);
  or VOCASET's own download, a ROOT with data_verts.npy (`vocaset.py`). FaceFormer's `vocaset/`
  folder may be ROOT (its vertices_npy/ is read, the sound found in its wav/); a
  templates.pkl in ROOT or its parent is the default --templates.
Frames are resampled from `--fps` (default: 25 for emoca, 30 for etf, for vertices the rate that
makes them as long as their sound; livelink's by their timecodes) to 25 fps. The audio is a take's
.mov, else the file with the same name (.wav/.flac) in `--audio-dir`, else beside it or in a `wav/`
or `audio/` folder beside its folder.
Labels: `--labels CSV`, else parsed from RAVDESS-style names, else VOCASET's
`<speaker>_sentenceNN`, else the parent folder is the speaker.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from talkface_cli.audio.io import conformed, load_audio
from talkface_cli.data.store import HOP, write_clip
from talkface_cli.errors import TalkfaceError
from talkface_cli.face.arkit import arkit_to_ict, resample
from talkface_cli.face.flame import PARAM_NAMES as FLAME_NAMES
from talkface_cli.face.load import load_face_model
from talkface_cli.face.take import take_mov, take_video

from .base import Job, PrepOptions, nothing_found
from .labels import clip_id, default_labels, listed_error, read_labels
from .livelink import livelink_arrays, take_csvs, take_speaker
from .ravdess import parse_name
from .vertices import read_templates, read_vertex_file, vertex_arrays
from .visible import files_under
from .vocaset import VERTS, is_raw, read_raw

SUFFIX = {"emoca": ".npz", "etf": ".npy", "vertices": ".npy", "livelink": ".csv"}
# what each format reads: (the files, as "no ... found" names them; one of them)
WANTED = {
    "emoca": (".npz files", "a .npz file"),
    "etf": (".npy files", "a .npy file"),
    "vertices": (".npy files", "a .npy file"),
    "livelink": ("Live Link Face takes (a CSV whose first column is Timecode)", "a Live Link Face take"),
}
SENTENCE = re.compile(r"(?P<speaker>.+)_sentence\d+", re.IGNORECASE)  # VOCASET's clip names


def _first(data: dict, keys: tuple[str, ...]) -> np.ndarray | None:
    for k in keys:
        if k in data:
            return np.asarray(data[k], np.float32)
    return None


def emoca_arrays(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(params (T, 53) = 50 expression + 3 jaw, pose (T, 6), shape (S,)) from an EMOCA-style npz."""
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise TalkfaceError(f"{path}: not a readable .npz ({e})") from None
    exp = _first(data, ("exp", "expcode", "expression"))
    if exp is None or exp.ndim != 2 or exp.shape[1] < 50:
        raise TalkfaceError(f"{path}: needs an expression array (T, >=50) named exp, expcode or expression")
    t = len(exp)
    pose6 = _first(data, ("pose", "posecode"))
    jaw = _first(data, ("jaw", "jaw_pose"))
    jaw = jaw if jaw is not None else (pose6[:, 3:6] if pose6 is not None else np.zeros((t, 3), np.float32))
    glob = _first(data, ("global_pose",))
    glob = glob if glob is not None else (pose6[:, :3] if pose6 is not None else np.zeros((t, 3), np.float32))
    if len(jaw) != t or len(glob) != t:
        raise TalkfaceError(f"{path}: expression has {t} frames but the pose arrays do not")
    shape = _first(data, ("shape", "shapecode", "betas"))
    shape = np.zeros(100, np.float32) if shape is None else (shape.mean(0) if shape.ndim == 2 else shape)
    pose = np.concatenate([glob, np.zeros((t, 3), np.float32)], 1)
    return np.concatenate([exp[:, :50], jaw], 1), pose, shape


class Import:
    name = "import"
    how = (
        "parameters tracked elsewhere (EMOCA/DECA FLAME codes or EmoTalk ARKit curves), or vertex "
        "sequences fitted to the face model of their topology, resampled to 25 fps"
    )

    def discover(self, root: Path, opts: PrepOptions) -> tuple[list[Job], list[dict]]:
        fmt = opts.extra.get("format", "emoca")
        if fmt not in SUFFIX:
            raise TalkfaceError(f"--format {fmt}: use emoca, etf, vertices or livelink")
        if not root.is_dir():
            raise TalkfaceError(f"{root}: no such folder")
        # a vertex fit runs torch, which uses every core itself, in this process: forked workers
        # of a process that has run torch can hang in its OpenMP thread pool
        self.parallel = fmt != "vertices"
        self.audio_dir = Path(opts.extra["audio_dir"]) if opts.extra.get("audio_dir") else None
        if fmt == "vertices":
            raw = is_raw(root)
            if not raw and (root / "vertices_npy").is_dir():  # FaceFormer's vocaset/ folder
                root = root / "vertices_npy"
            near = [t for t in (root / "templates.pkl", root.parent / "templates.pkl") if t.is_file()]
            templates = opts.extra.get("templates") or next(iter(near), None)
            if not templates:
                raise TalkfaceError(
                    "--format vertices needs --templates FILE (templates.pkl: each speaker's neutral mesh; "
                    "none in ROOT or its parent)"
                )
            self.templates = read_templates(Path(templates))
            if raw:
                return self._raw_jobs(root, opts), []
        table = read_labels(Path(opts.extra["labels"]), root) if opts.extra.get("labels") else {}
        takes, self.notes = fmt == "livelink", []
        files = take_csvs(root) if takes else files_under(root, f"*{SUFFIX[fmt]}")
        jobs, found = [], set()
        for path in files:
            # a take is named by its CSV or by its folder
            names = [p.relative_to(root).as_posix() for p in ([path, path.parent] if takes else [path])]
            found |= set(names)
            labels = default_labels("import", path, take_speaker(path) if takes else None)
            try:
                labels |= {k: v for k, v in parse_name(path).items() if k in labels}
            except TalkfaceError:
                if m := SENTENCE.fullmatch(path.stem):
                    labels["speaker"] = m["speaker"]
            for rel in names:
                labels |= {k: v for k, v in table.get(rel, {}).items() if v is not None}
            jobs.append(Job(clip_id(root, path), str(path), labels, fmt))
        if not jobs and takes and next(root.rglob("depth_metadata.mhaical"), None):
            raise TalkfaceError(
                f"{root}: these are Live Link Face's MetaHuman Animator takes (depth, no ARKit curves); "
                f"`talkface prep folder {root}` tracks their .mov videos instead"
            )
        if not jobs:
            raise nothing_found(root, WANTED[fmt][0])
        errors = [listed_error(root, rel, WANTED[fmt][1]) for rel in table if rel not in found]
        logless = sum(not (Path(j.source).parent / "frame_log.csv").is_file() for j in jobs) if takes else 0
        if logless:
            note = "take(s) without frame_log.csv: sound placed by the .mov's timecode, else at the first row"
            self.notes.append(f"{root}: {logless} {note}")
        return jobs, errors

    def _raw_jobs(self, root: Path, opts: PrepOptions) -> list[Job]:
        """A clip per sentence of VOCASET's own download; its speaker is the download's."""
        if opts.extra.get("labels"):
            raise TalkfaceError(
                f"{root}: VOCASET's download names its speakers and carries no labels; drop --labels"
            )
        self.raw = read_raw(root)
        return [
            Job(
                name,
                str(root / VERTS),
                default_labels("import", root, self.raw.speakers[name]),
                "vocaset",
            )
            for name in sorted(self.raw.rows)
        ]

    def process(self, job: Job, out: Path, opts: PrepOptions) -> None:
        if job.kind == "vocaset":
            where = f"{job.source}: {job.id}"
            verts, samples, rate = self.raw.clip(job.id, where)
            audio = conformed(samples, rate)
            record = {"id": job.id, "source": job.source, **job.labels}
            arrays, record["fit_mm"] = vertex_arrays(
                verts,
                where,
                round(len(audio) / HOP),
                self.templates,
                str(job.labels["speaker"]),
                opts.extra.get("fps"),
                opts.flame_model,
            )
            return self._write(out, record, arrays, audio)
        path = Path(job.source)
        video = take_video(path) if job.kind == "livelink" else None
        if job.kind == "livelink" and video is None and self.audio_dir is None:
            raise TalkfaceError(
                f"{path}: no {take_mov(path).name} beside it (the take's video, with its sound)"
            )
        sound = video or self._sound(path)
        audio = load_audio(sound)
        record = {"id": job.id, "source": job.source, "audio_source": str(sound), **job.labels}
        fps = opts.extra.get("fps")
        if job.kind == "livelink":
            arrays, record["sound_start"] = livelink_arrays(path, video, len(audio), fps)
        elif job.kind == "etf":
            arrays = etf_arrays(path, float(fps or 30))
        elif job.kind == "vertices":
            speaker = str(job.labels["speaker"])
            frames = round(len(audio) / HOP)
            arrays, record["fit_mm"] = vertex_arrays(
                read_vertex_file(path), str(path), frames, self.templates, speaker, fps, opts.flame_model
            )
        else:
            params, pose, shape = emoca_arrays(path)
            fps = float(fps or 25)
            params, pose = resample(params, fps, 25), resample(pose, fps, 25)
            arrays = {
                "params": params,
                "param_names": np.array(FLAME_NAMES),
                "face_model": "flame",
                "pose": pose,
                "shape": shape,
            }
        self._write(out, record, arrays, audio)

    def _sound(self, path: Path) -> Path:
        """The sound of a clip's file: NAME.wav or .flac in --audio-dir, else in `sound_dirs`."""
        dirs = [self.audio_dir] if self.audio_dir else sound_dirs(path)
        names = [d / f"{path.stem}{s}" for d in dirs for s in (".wav", ".flac")]
        wav = next((n for n in names if n.is_file()), None)
        if wav is None:
            raise TalkfaceError(f"{path}: no audio {path.stem}.wav or .flac in {' or '.join(map(str, dirs))}")
        return wav

    @staticmethod
    def _write(out: Path, record: dict, arrays: dict, audio: np.ndarray) -> None:
        """The clip, its sound cut or padded to its frames."""
        frames = len(arrays["params"])
        arrays["audio"] = np.pad(audio, (0, max(0, frames * HOP - len(audio))))[: frames * HOP]
        write_clip(out, record, arrays)


def sound_dirs(path: Path) -> list[Path]:
    """Where a clip's sound is looked for without --audio-dir: beside its file, then in a `wav/` or
    `audio/` folder beside the file's folder, as FaceFormer keeps VOCASET (vertices_npy/, wav/) and
    public 3D-ETF loaders keep EmoTalk's data (blendshape/, audio/; its own layout is unpublished)."""
    return [path.parent, *(d for d in (path.parent.parent / n for n in ("wav", "audio")) if d.is_dir())]


def etf_arrays(path: Path, fps: float) -> dict:
    """EmoTalk's (T, 52) ARKit curves at `fps` -> ICT-FaceKit clip arrays at 25 fps."""
    curves = np.load(path, allow_pickle=False)
    if curves.ndim != 2 or curves.shape[1] != 52:
        raise TalkfaceError(f"{path}: expected (T, 52) ARKit curves, got {curves.shape}")
    names = load_face_model("ict").param_names
    params = resample(arkit_to_ict(curves.astype(np.float32), names), fps, 25)
    return {
        "params": params,
        "param_names": np.array(names),
        "face_model": "ict",
        "pose": np.zeros((len(params), 6), np.float32),
    }
