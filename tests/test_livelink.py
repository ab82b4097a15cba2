"""Live Link Face takes: timecoded ARKit CSVs read on their own clock (`render`) and imported as
training clips in step with their sound (`prep import --format livelink`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from talkface_cli.app import app
from talkface_cli.audio.io import ffmpeg_exe
from talkface_cli.data.store import load_clip, read_manifest
from talkface_cli.errors import TalkfaceError
from talkface_cli.face.arkit import LIVELINK_52, load_arkit_curves, read_arkit_csv
from talkface_cli.face.ict import ICTFace
from talkface_cli.face.timecode import sample_on_clock, seconds_of, split_timecode, timecode_rate
from talkface_cli.render.run import load_any

runner = CliRunner()
VIDEO_START = 14 * 3600 + 3 * 60 + 52 + 28 / 30  # 14:03:52:28 at 30 fps
SOUND_DELAY = 0.2  # the sound starts this long after the picture
FIRST_ROW = 0.15  # the ARKit rows start this long after the picture


def jaw(t: np.ndarray) -> np.ndarray:
    """JawOpen at `t` seconds after the sound starts."""
    return 0.5 + 0.4 * np.sin(2 * np.pi * 1.3 * t)


def code(seconds: float, rate: int = 30) -> str:
    """Live Link Face's timecode: frames at `rate` with a fraction of a frame."""
    whole = int(seconds)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}:{(seconds - whole) * rate:06.3f}"


def take_csv(path: Path, times: np.ndarray, rate: int = 30) -> None:
    """A take's CSV with JawOpen = `jaw` at each row's time (seconds on the timecode clock)."""
    values = np.zeros((len(times), 52))
    values[:, LIVELINK_52.index("JawOpen")] = jaw(times - VIDEO_START - SOUND_DELAY)
    lines = [",".join(["Timecode", "BlendShapeCount", *LIVELINK_52, "HeadYaw"])]
    lines += [
        ",".join([code(t, rate), "61", *(f"{v:.6f}" for v in row), "0.1"]) for t, row in zip(times, values)
    ]
    path.write_text("\n".join(lines) + "\n")


def make_take(folder: Path, *, frame_log: bool = True, timecode: bool = True) -> Path:
    """A take as the app shares it: 2.6 s of 60 Hz ARKit rows under a 30 fps timecode, six rows
    dropped at 1 s (JawOpen passes 0.5 there, where a line follows it closely); a .mov whose sound
    starts 0.2 s after its picture."""
    folder.mkdir(parents=True)
    prefix = "Reading_3_iPhone"
    rows = VIDEO_START + FIRST_ROW + np.arange(156) / 60
    take_csv(folder / f"{prefix}.csv", np.delete(rows, np.arange(47, 53)))
    tc = ["-timecode", "14:03:52:28"] if timecode else []
    picture = ["-f", "lavfi", "-i", "color=gray:s=64x64:r=30:d=2.6"]
    sound = ["-itsoffset", str(SOUND_DELAY), "-f", "lavfi", "-i", "sine=f=220:d=2.4:r=48000"]
    cmd = [ffmpeg_exe(), "-v", "error", *picture, *sound, "-c:v", "libx264", "-c:a", "pcm_s16le", *tc]
    subprocess.run([*cmd, str(folder / f"{prefix}.mov")], check=True)
    (folder / "video_metadata.json").write_text(json.dumps({"FrameRate": 30, "Quality": "high"}))
    (folder / "take.json").write_text(json.dumps({"slate": "Reading", "take": 3, "subject": "iPhone"}))
    if frame_log:
        log = [f"V,0,0,600,{code(VIDEO_START)},0", f"A,0,0,48000,{code(VIDEO_START + SOUND_DELAY)},0"]
        (folder / "frame_log.csv").write_text("\n".join(log) + "\n")
    return folder


def import_takes(root: Path, out: Path, *extra: str, exit_code: int = 0) -> dict:
    args = ["prep", "import", str(root), "--format", "livelink", "--out", str(out), "--json", "-", *extra]
    r = runner.invoke(app, args)
    assert r.exit_code == exit_code, r.output
    return json.loads(r.stdout)


def jaw_error(store: Path, clip: dict) -> float:
    """The largest difference between a clip's jawOpen and the JawOpen of its sound's time."""
    params = load_clip(store, clip["id"])["params"][:, ICTFace().param_names.index("jawOpen")]
    return float(np.abs(params - jaw(np.arange(len(params)) / 25)).max())


def test_timecodes_are_read_at_their_rate():
    assert split_timecode("14:03:52:28.207") == (50632, 28.207)
    assert split_timecode("00:00:01") is None and split_timecode("12") is None
    codes = [split_timecode(code(1.5 + k / 60)) for k in range(90)]  # 60 Hz rows under 30 fps
    assert timecode_rate(codes) == 30
    np.testing.assert_allclose(np.diff(seconds_of(codes, 30)), 1 / 60, atol=1e-6)
    assert timecode_rate([split_timecode(code(k / 60, 60)) for k in range(90)]) == 60
    # midnight passed within a take
    night = seconds_of([split_timecode("23:59:59:29.000"), split_timecode("00:00:00:00.000")], 30)
    np.testing.assert_allclose(np.diff(night), 1 / 30)
    with pytest.raises(TalkfaceError, match="goes back at row 3"):
        sample_on_clock(np.zeros((2, 1)), np.array([1.0, 0.5]), np.array([0.0]), "x.csv")


def test_a_take_csv_is_rendered_on_its_own_clock(tmp_path):
    """Rows at 30 Hz under a 30 fps timecode last as long as their codes say (read as 60 Hz, the
    capture rate most takes have, they lasted half as long), and a gap of dropped rows is kept."""
    rows = VIDEO_START + np.arange(60) / 30  # 2 s
    take_csv(tmp_path / "slow.csv", rows)
    curves, fps = load_arkit_curves(tmp_path / "slow.csv")
    assert fps == 25 and len(curves) == 50
    expected = jaw(np.arange(50) / 25 - SOUND_DELAY)
    assert np.abs(curves[:, 24] - expected).max() < 0.01  # ARKIT_52's jawOpen
    take_csv(tmp_path / "gap.csv", np.delete(rows, np.arange(15, 20)))  # around a crossing of 0.5
    gap, _ = load_arkit_curves(tmp_path / "gap.csv")
    assert len(gap) == 50 and np.abs(gap[:, 24] - expected).max() < 0.05
    _, times = read_arkit_csv(tmp_path / "gap.csv")
    assert len(times) == 55
    (tmp_path / "bad.csv").write_text((tmp_path / "slow.csv").read_text().replace(code(rows[3]), "soon", 1))
    with pytest.raises(TalkfaceError, match="row 5: 'soon' is not a timecode"):
        load_arkit_curves(tmp_path / "bad.csv")


def test_takes_are_imported_in_step_with_their_sound(tmp_path):
    root = tmp_path / "anna"
    make_take(root / "20261124_Reading_3")
    report = import_takes(root, tmp_path / "store")
    assert report["clips"] == 1 and report["failed"] == 0, report
    (clip,) = read_manifest(tmp_path / "store")
    assert clip["speaker"] == "anna" and clip["sound_start"] == "frame_log.csv"
    assert clip["audio_source"].endswith("Reading_3_iPhone.mov")
    assert clip["frames"] == 60  # the sound's 2.4 s
    assert jaw_error(tmp_path / "store", clip) < 0.05
    # --fps overrides video_metadata.json's rate: read at 60, the frame numbers mean other times
    import_takes(root, tmp_path / "at60", "--fps", "60")
    assert jaw_error(tmp_path / "at60", read_manifest(tmp_path / "at60")[0]) > 0.3

    # without frame_log.csv: the .mov's timecode and its sound's delay place the sound alike
    (root / "20261124_Reading_3/frame_log.csv").unlink()
    report = import_takes(root, tmp_path / "by_mov")
    assert any("1 take(s) without frame_log.csv" in n for n in report["notes"]), report
    (clip,) = read_manifest(tmp_path / "by_mov")
    assert clip["sound_start"] == "the video's timecode"
    assert jaw_error(tmp_path / "by_mov", clip) < 0.05


def test_a_take_without_log_or_timecode_starts_at_its_first_row(tmp_path):
    make_take(tmp_path / "takes/t1", frame_log=False, timecode=False)
    import_takes(tmp_path / "takes", tmp_path / "store")
    (clip,) = read_manifest(tmp_path / "store")
    assert clip["sound_start"] == "the first row" and clip["speaker"] == "takes"
    # the take's CSV re-saved by a spreadsheet in a locale of decimal commas: the same clip
    csv = tmp_path / "takes/t1/Reading_3_iPhone.csv"
    csv.write_text(
        "\n".join(";".join(line.split(",")).replace(".", ",") for line in csv.read_text().splitlines())
    )
    import_takes(tmp_path / "takes", tmp_path / "resaved")
    (again,) = read_manifest(tmp_path / "resaved")
    same = load_clip(tmp_path / "resaved", again["id"])["params"]
    np.testing.assert_allclose(same, load_clip(tmp_path / "store", clip["id"])["params"], atol=1e-5)
    params = load_clip(tmp_path / "store", clip["id"])["params"][:, ICTFace().param_names.index("jawOpen")]
    lag = FIRST_ROW - SOUND_DELAY  # the sound taken to start with the rows, 0.05 s early
    assert np.abs(params[:40] - jaw(np.arange(40) / 25 + lag)).max() < 0.01


def test_calibrated_takes_labels_by_folder_and_bad_takes(tmp_path):
    root = tmp_path / "shoot"
    take = make_take(root / "bob/20261124_Angry_1")
    csv = take / "Reading_3_iPhone.csv"
    shutil.copy(csv, take / "Reading_3_iPhone_raw.csv")
    shutil.copy(csv, take / "Reading_3_iPhone_neutral.csv")
    csv.rename(take / "Reading_3_iPhone_cal.csv")  # a calibrated take: the _cal curves are read
    (root / "bob/notes").mkdir()
    labels = "path,emotion,intensity\nbob/20261124_Angry_1,Anger,high\nbob/notes,sad,\nbob/gone,sad,\n"
    (tmp_path / "labels.csv").write_text(labels)
    report = import_takes(root, tmp_path / "store", "--labels", str(tmp_path / "labels.csv"), exit_code=3)
    assert report["clips"] == 1, report
    assert sorted(e["error"].split("/bob/")[1] for e in report["errors"]) == [
        "gone: listed but missing",
        "notes: listed, but not a Live Link Face take",
    ]
    (clip,) = read_manifest(tmp_path / "store")
    assert clip["source"].endswith("Reading_3_iPhone_cal.csv") and clip["sound_start"] == "frame_log.csv"
    assert (clip["speaker"], clip["emotion"], clip["intensity"]) == ("bob", "angry", 3)

    # takes' CSVs and .movs gathered in one folder: that folder is the speaker, each CSV its .mov's
    flat = tmp_path / "flat/carl"
    flat.mkdir(parents=True)
    for k in (1, 2):
        shutil.copy(take / "Reading_3_iPhone_cal.csv", flat / f"Line_{k}_iPhone.csv")
        shutil.copy(take / "Reading_3_iPhone.mov", flat / f"Line_{k}_iPhone.mov")
    import_takes(tmp_path / "flat", tmp_path / "flat_store")
    clips = read_manifest(tmp_path / "flat_store")
    assert [c["speaker"] for c in clips] == ["carl", "carl"]
    assert [Path(c["audio_source"]).name for c in clips] == ["Line_1_iPhone.mov", "Line_2_iPhone.mov"]
    # there, a take whose .mov is missing is not given another take's
    (flat / "Line_1_iPhone.mov").unlink()
    report = import_takes(tmp_path / "flat", tmp_path / "flat_again", exit_code=3)
    assert report["failed"] == 1 and report["errors"][0]["error"].endswith(
        "Line_1_iPhone.csv: no Line_1_iPhone.mov beside it (the take's video, with its sound)"
    )

    # a take whose rows and sound do not meet, and a folder of no takes
    (take / "frame_log.csv").write_text(f"A,0,0,48000,{code(VIDEO_START + 3600)},0\n")
    report = import_takes(root, tmp_path / "apart", exit_code=3)  # 3: some clips failed
    assert report["failed"] == 1 and "do not overlap in time" in report["errors"][0]["error"], report
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty/notes.csv").write_text("a,b\n1,2\n")
    r = runner.invoke(app, ["prep", "import", str(tmp_path / "empty"), "--format", "livelink"])
    assert isinstance(r.exception, TalkfaceError)
    assert str(r.exception).endswith(
        "empty: no Live Link Face takes (a CSV whose first column is Timecode) found"
    )
    # the app's other mode: depth and video, no curves
    (tmp_path / "mha/take_1").mkdir(parents=True)
    (tmp_path / "mha/take_1/depth_metadata.mhaical").write_text("{}")
    r = runner.invoke(app, ["prep", "import", str(tmp_path / "mha"), "--format", "livelink"])
    assert "MetaHuman Animator takes (depth, no ARKit curves); `talkface prep folder" in str(r.exception)


def test_a_renamed_takes_video_is_found_beside_macos_apple_double_files(tmp_path):
    """In a take's own folder, a CSV renamed away from its .mov's name takes the one video there;
    a take copied off a Mac has a `._NAME` AppleDouble file beside each, which made two."""
    from talkface_cli.face.take import take_video

    take = make_take(tmp_path / "t1")
    csv = (take / "Reading_3_iPhone.csv").rename(take / "line 3, angry.csv")
    (take / "._Reading_3_iPhone.mov").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X" + bytes(64))
    assert take_video(csv) == take / "Reading_3_iPhone.mov"


def test_a_take_is_rendered_with_its_sound_in_step(tmp_path):
    """`render take.csv` plays the take as `prep import` makes its clip: from the sound's start,
    with the take's sound (before: from the first row, silent)."""
    take = make_take(tmp_path / "takes/t1")
    seq = load_any(take / "Reading_3_iPhone.csv")
    import_takes(tmp_path / "takes", tmp_path / "store")
    (clip,) = read_manifest(tmp_path / "store")
    stored = load_clip(tmp_path / "store", clip["id"])
    np.testing.assert_array_equal(seq.params, stored["params"])
    np.testing.assert_array_equal(seq.audio[: len(stored["audio"])], stored["audio"][: len(seq.audio)])
    r = runner.invoke(
        app, ["render", str(take / "Reading_3_iPhone.csv"), "--size", "32", "--out", str(tmp_path / "t.mp4")]
    )
    assert r.exit_code == 0, r.output
    probe = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-i", str(tmp_path / "t.mp4")], capture_output=True, text=True
    )
    assert "Audio: aac" in probe.stderr and "Duration: 00:00:02.4" in probe.stderr, probe.stderr
