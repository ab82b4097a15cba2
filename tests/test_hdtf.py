"""`talkface prep hdtf`: as its download scripts leave it, and cut by its own annotations."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from data_recipes.base import PrepOptions
from data_recipes.hdtf import Hdtf, read_annotations, read_times
from talkface_cli.app import app
from talkface_cli.audio.io import audio_delay, delayed, ffmpeg_exe, load_audio
from talkface_cli.data.store import HOP, load_clip, read_manifest
from talkface_cli.errors import TalkfaceError
from talkface_cli.track.video import open_video, track_video

runner = CliRunner()
ACTOR = "data/ravdess/Video_Speech/Actor_05"


def test_hdtf_as_its_download_scripts_leave_it(shared, tmp_path):
    """HDTF's clips are <video>_<k>, a person's videos are numbered, and the download scripts keep
    the full-length downloads beside the clips (`_videos_raw/`); the dataset's own script fetches
    the picture without the sound."""
    real = shared / ACTOR / "01-01-03-01-01-02-05.mp4"
    root = tmp_path / "hdtf"
    (root / "_videos_raw").mkdir(parents=True)
    (root / "WRA_AmyK0_000.mp4").symlink_to(real)
    mkv = root / "WRA_AmyK1_002.MKV"  # the person's second video, as a downloader may save it
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(real), "-c", "copy", str(mkv)], check=True)
    (root / "_videos_raw/WRA_AmyK0.mp4").symlink_to(real)  # repeats its clips: not a clip
    (root / "_videos_raw/WRA_AmyK0_download_log.txt").write_text("DEBUG: done\n")
    mute = root / "RD_Radio11_0.mp4"  # cut as HDTF's README says, from a download without sound
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(real), "-c", "copy", "-an", str(mute)], check=True)
    res = runner.invoke(app, ["prep", "hdtf", str(root), "--out", str(tmp_path / "h"), "--json", "-"])
    assert res.exit_code == 3, res.output  # finished, one clip failed
    summary = json.loads(res.stdout)
    recs = {r["id"]: r for r in read_manifest(tmp_path / "h")}
    assert set(recs) == {"WRA_AmyK0_000", "WRA_AmyK1_002"}
    assert {(r["speaker"], r["take"]) for r in recs.values()} == {
        ("WRA_AmyK", "WRA_AmyK0"),
        ("WRA_AmyK", "WRA_AmyK1"),
    }
    assert summary["notes"] == [
        f"{root}: 1 full-length video(s) passed over, whose clips are here (_videos_raw/WRA_AmyK0.mp4, ...)"
    ]
    [error] = summary["errors"]
    assert error["source"] == str(mute) and error["error"].endswith("(yt-dlp -f bestvideo+bestaudio)")


def test_hdtf_annotations_are_read_as_the_dataset_writes_them(tmp_path):
    """HDTF_dataset's files: `<video>.mp4 mm:ss-mm:ss ...`, trailing blanks, minutes past 59, parts
    out of order; a video is named with its subset's prefix (download scripts) or without (README)."""
    ann = tmp_path / "HDTF_dataset"
    ann.mkdir()
    (ann / "RD_annotion_time.txt").write_text(
        "Radio11.mp4 00:30-01:00 01:30-02:30\nRadio34.mp4 00:02-00:30 \n"
    )
    (ann / "WRA_annotion_time.txt").write_text(
        "JeffFlake.mp4 00:12-05:00 05:00-10:00 10:00-14:55\nMittRomney.mp4 08:10-08:30 00:33-08:53\n"
        "BobCasey0.mp4 1:00:00-1:00:02.5\n"
    )
    (ann / "WDA_annotion_time.txt").write_text("BobCasey0.mp4 00:10-07:15\n\n")
    (ann / "WDA_crop_wh.txt").write_text("BobCasey0_0.mp4 0 512 0 512\n")  # HDTF's other tables: not times
    spans = read_annotations(ann)
    assert spans["RD_Radio11"] == spans["Radio11"] == [[30.0, 60.0], [90.0, 150.0]]
    assert spans["Radio34"] == [[2.0, 30.0]]
    assert spans["WRA_JeffFlake"] == [[12.0, 300.0], [300.0, 600.0], [600.0, 895.0]]
    assert spans["MittRomney"] == [[490.0, 510.0], [33.0, 533.0]]  # as given: both parts
    assert spans["WDA_BobCasey0"] == [[10.0, 435.0]] and spans["WRA_BobCasey0"] == [[3600.0, 3602.5]]
    assert "two subsets" in spans["BobCasey0"]  # which one is meant, the name does not say
    assert read_annotations(ann / "RD_annotion_time.txt")["Radio11"] == [[30.0, 60.0], [90.0, 150.0]]
    for line, why in [
        ("Radio1.mp4 00:30-00:20", "line 2: 00:30-00:20 ends before it begins"),
        ("Radio1.mp4 0:3O-01:00", "line 2: '0:3O' is not a time (mm:ss)"),
        ("Radio1.mp4", "line 2: Radio1.mp4 has no times"),
    ]:
        (tmp_path / "bad.txt").write_text(f"Radio2.mp4 00:01-00:05\n{line}\n")
        with pytest.raises(TalkfaceError, match=re.escape(f"{tmp_path / 'bad.txt'}: {why}")):
            read_times(tmp_path / "bad.txt")
    (tmp_path / "bad.txt").write_text("Radio2.mp4 00:01-00:05\n", encoding="utf-16")  # Notepad's "Unicode"
    why = f"{tmp_path / 'bad.txt'}: the annotation file is not UTF-8 text"
    with pytest.raises(TalkfaceError, match=re.escape(why)):
        read_times(tmp_path / "bad.txt")
    assert read_annotations(tmp_path) == spans  # the clone of HDTF's repository
    (tmp_path / "videos").mkdir()
    with pytest.raises(TalkfaceError, match="no HDTF annotations here"):
        read_annotations(tmp_path / "videos")


def long_video(shared, path: Path) -> Path:
    """Two real RAVDESS clips one after the other (6.3 s): a stand-in for a full-length download."""
    listing = path.with_suffix(".txt")
    clips = ["01-01-01-01-02-01-05.mp4", "01-01-03-01-01-02-05.mp4"]
    listing.write_text("".join(f"file '{shared / ACTOR / c}'\n" for c in clips))
    cmd = [ffmpeg_exe(), "-v", "error", "-f", "concat", "-safe", "0", "-i", str(listing), "-c", "copy"]
    subprocess.run([*cmd, str(path)], check=True)
    listing.unlink()
    return path


def test_hdtf_full_length_videos_are_cut_by_its_annotations(shared, tmp_path):
    """HDTF ships YouTube addresses and the talking parts of each video, not clips: its README has
    the user cut them. `--annotations` cuts them in prep: each part's frames and sound, named as
    the README names the files (<video>_<k>); a video the annotations do not list is passed over;
    a store made one way does not grow the other."""
    root = tmp_path / "yt"
    root.mkdir()
    video = long_video(shared, root / "RD_Radio11.mp4")  # the download script's name
    (root / "Radio12.mp4").symlink_to(video)  # the README's name
    (root / "Radio99.mp4").symlink_to(video)  # listed nowhere
    (root / "Sub" / "Bob0.mp4").parent.mkdir()
    (root / "Sub" / "Bob0.mp4").symlink_to(video)  # two subsets list a Bob0
    ann = tmp_path / "HDTF_dataset"
    ann.mkdir()
    (ann / "WDA_annotion_time.txt").write_text("Bob0.mp4 00:01-00:02\n")
    (ann / "WRA_annotion_time.txt").write_text("Bob0.mp4 00:03-00:04\n")
    (ann / "RD_annotion_time.txt").write_text(
        "Radio11.mp4 00:00.5-00:02 00:04-00:05.5 00:05.5-01:00 00:07-00:08\nRadio12.mp4 00:03-00:04\n"
    )
    out = tmp_path / "store"
    args = ["prep", "hdtf", str(root), "--out", str(out), "--annotations", str(ann), "--json", "-"]
    res = runner.invoke(app, args)
    assert res.exit_code == 3, res.output  # finished, one part failed
    summary = json.loads(res.stdout)
    late, two = summary["errors"]  # the video is 6.3 s long
    assert late["error"] == f"{video}: the part 00:07-00:08 begins after the video ends (00:06.3)"
    assert two["error"] == f"{root}/Sub/Bob0.mp4: named in two subsets' annotations; call it <subset>_Bob0"
    assert summary["notes"] == [
        f"{root}: 1 full-length video(s) passed over, not in the annotations (Radio99.mp4, ...)"
    ]
    recs = {r["id"]: r for r in read_manifest(out)}
    _, fps, n = open_video(video)
    assert {i: (r["span"], r["frames"], r["speaker"], r["take"]) for i, r in recs.items()} == {
        "RD_Radio11_0": ([0.5, 2.0], 38, "RD_Radio", "RD_Radio11"),
        "RD_Radio11_1": ([4.0, 5.5], 38, "RD_Radio", "RD_Radio11"),
        "RD_Radio11_2": ([5.5, 60.0], round((n / fps - 5.5) * 25), "RD_Radio", "RD_Radio11"),  # to its end
        "Radio12_0": ([3.0, 4.0], 25, "Radio", "Radio12"),
    }
    whole = delayed(load_audio(video), audio_delay(video))
    lmk = track_video(video).landmarks
    for i, r in recs.items():
        clip, first, frames = load_clip(out, i), round(r["span"][0] * 25), r["frames"]
        a, b = round(r["span"][0] * 16000), (frames - 1) * HOP
        assert np.array_equal(clip["audio"][:b], whole[a : a + b]), i
        # Its faces are the whole video's at those times (frames taken by time: test_prep's VFR test),
        # to the tracker's own jitter (it settles on a face in its first frames).
        same = min(frames, len(lmk) - first)  # 5.5 s is between two of the whole video's frames
        assert np.abs(clip["landmarks"][3:same] - lmk[first + 3 : first + same]).mean() < 1.0, i
    res = runner.invoke(app, [*args[:-2], "--json", "-"])  # resumed: the parts are there
    assert res.exit_code == 3 and json.loads(res.stdout)["skipped"] == 4, res.output
    res = runner.invoke(app, ["prep", "hdtf", str(root), "--out", str(out)])
    assert str(res.exception) == (
        f"{out}: made with --annotations {ann}, not without; "
        "use the same to resume or grow it, or another --out"
    )
    hdtf = Hdtf()  # without them, each video is one clip, with a hint
    jobs, _ = hdtf.discover(root, PrepOptions())
    assert [j.id for j in jobs] == ["RD_Radio11", "Radio12", "Radio99", "Sub__Bob0"] and hdtf.notes == [
        f"{root}: 4 full-length video(s) tracked whole (RD_Radio11.mp4, ...); HDTF's clips are their "
        "talking parts: --annotations HDTF_dataset cuts them"
    ]
