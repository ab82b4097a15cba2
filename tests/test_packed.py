"""Corpora read from their archives as downloaded, to the clips they give unpacked: MEAD's
video.tar and audio.tar per speaker, RAVDESS's zips."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import soundfile as sf
from typer.testing import CliRunner

from talkface_cli.app import app
from talkface_cli.audio.io import ffmpeg_exe, load_audio
from talkface_cli.data.store import load_clip, read_manifest

runner = CliRunner()
FRONT = "video/front/angry/level_1/001.mp4"
SOUND = "audio/angry/level_1/001.m4a"


def _media(shared: Path, tmp: Path) -> tuple[Path, Path]:
    """A 2 s 360p cut of a real RAVDESS video, and an .m4a of other speech (MEAD's separate sound)."""
    video, sound = tmp / "clip.mp4", tmp / "other.m4a"
    real = shared / "data/ravdess/Video_Speech/Actor_05/01-01-03-01-01-02-05.mp4"
    wav = shared / "data/ravdess/Audio_Speech_16k/Actor_01/03-01-01-01-01-01-01.flac"
    ff = [ffmpeg_exe(), "-v", "error", "-t", "2"]
    subprocess.run([*ff, "-i", str(real), "-vf", "scale=640:360", "-c:a", "aac", str(video)], check=True)
    subprocess.run([*ff, "-i", str(wav), "-c:a", "aac", str(sound)], check=True)
    return video, sound


def _speaker(where: Path, files: dict[str, Path], packed: bool) -> None:
    """MEAD's layout under `where`: as downloaded (video.tar, audio.tar) or unpacked."""
    for part in ("video", "audio"):
        mine = {name: f for name, f in files.items() if name.startswith(part)}
        if mine and packed:
            where.mkdir(parents=True, exist_ok=True)
            with tarfile.open(where / f"{part}.tar", "w") as tar:
                for name, f in mine.items():
                    tar.add(f, arcname=name)
        elif mine:
            for name, f in mine.items():
                (where / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(f, where / name)


def test_mead_as_downloaded_is_read_from_its_tars_as_if_unpacked(shared, tmp_path):
    """MEAD gives each speaker as video.tar (seven views) and audio.tar: the tars are read in place,
    to the very clips the unpacked folders give, the sound from the .m4a; a member that is not a
    video and a cut-short archive are one line each, naming them; a speaker without the view is
    named in a note."""
    video, sound = _media(shared, tmp_path)
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video")
    files = {FRONT: video, "video/left_30/angry/level_1/001.mp4": video, SOUND: sound}
    files["video/front/sad/level_3/002.mp4"] = junk
    for packed, root in ((True, tmp_path / "dl"), (False, tmp_path / "unpacked")):
        _speaker(root / "M003", files, packed)
        _speaker(root / "W017", {"video/down/happy/level_2/001.mp4": video}, packed)
    cut = tmp_path / "dl/M005/video.tar"
    _speaker(cut.parent, {FRONT: video}, packed=True)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 3])  # a download that stopped

    stores = {}
    for root in ("dl", "unpacked"):
        out = tmp_path / f"store-{root}"
        res = runner.invoke(app, ["prep", "mead", str(tmp_path / root), "--out", str(out), "--json", "-"])
        assert res.exit_code == 3, res.output  # done, with clips that failed
        summary = json.loads(res.stdout)
        stores[root] = out
        assert [r["id"] for r in read_manifest(out)] == ["M003_angry_level_1_001"]
        errors = {e["id"]: e["error"] for e in summary["errors"]}
        bad = ("video.tar:video/" if root == "dl" else "video/") + "front/sad/level_3/002.mp4"
        assert errors["M003_sad_level_3_002"].startswith(f"{tmp_path / root}/M003/{bad}: no decodable video")
        assert summary["notes"] == ["W017: no front videos, passed over (its views: down; --view picks one)"]
        assert not list((out / "tracks").glob(".member-*"))  # the copies out of the tars are gone
    assert errors.keys() == {"M003_sad_level_3_002"}  # unpacked: no M005
    errors = {e["id"]: e["error"] for e in json.loads((stores["dl"] / "errors.json").read_text())}
    assert errors["M005"].startswith(f"{cut}: not a whole uncompressed tar"), errors

    record = read_manifest(stores["dl"])[0]
    assert record["source"] == f"{tmp_path}/dl/M003/video.tar:{FRONT}"
    assert record["audio_source"] == f"{tmp_path}/dl/M003/audio.tar:{SOUND}"
    assert (record["speaker"], record["emotion"], record["intensity"]) == ("M003", "angry", 1)
    packed, unpacked = (load_clip(stores[k], "M003_angry_level_1_001") for k in ("dl", "unpacked"))
    for key in ("audio", "params", "pose", "landmarks"):
        assert np.array_equal(packed[key], unpacked[key]), key
    heard = load_audio(sound)[: len(packed["audio"])]  # the .m4a's speech, not the video's
    assert len(packed["audio"]) >= 45 * 640 and np.array_equal(packed["audio"][: len(heard)], heard)


def test_ravdess_zips_are_read_in_place_as_if_unzipped(shared, tmp_path):
    """RAVDESS comes as Video_Speech_Actor_NN.zip and Audio_Speech_Actors_01-24.zip: their members
    are clips as the unzipped files are (a video-only 02- member passed over as on disk); a damaged
    member is one line naming it; files unzipped beside their zip are read from the zip, with no
    clip twice."""
    video, _ = _media(shared, tmp_path)
    speech, damaged = tmp_path / "speech.wav", "03-01-05-02-01-01-01.wav"
    flac = shared / "data/ravdess/Audio_Speech_16k/Actor_01/03-01-01-01-01-01-01.flac"
    sf.write(speech, load_audio(flac), 16000)
    zips = {
        "Video_Speech_Actor_05.zip": {"Actor_05/01-01-03-01-01-02-05.mp4": video},
        "Audio_Speech_Actors_01-24.zip": {"Actor_01/03-01-01-01-01-01-01.wav": speech},
    }
    zips["Video_Speech_Actor_05.zip"]["Actor_05/02-01-03-01-01-02-05.mp4"] = video  # video-only
    dl, unzipped = tmp_path / "dl", tmp_path / "unzipped"
    dl.mkdir()
    for zip_name, members in zips.items():
        with zipfile.ZipFile(dl / zip_name, "w", zipfile.ZIP_DEFLATED) as z:
            for name, f in members.items():
                z.write(f, name)
                (unzipped / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(f, unzipped / name)
    audio_zip = dl / "Audio_Speech_Actors_01-24.zip"
    with zipfile.ZipFile(audio_zip, "a", zipfile.ZIP_DEFLATED) as z:
        z.write(speech, f"Actor_01/{damaged}")
        info = z.getinfo(f"Actor_01/{damaged}")
    data = bytearray(audio_zip.read_bytes())  # 64 bytes inside its compressed data zeroed
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + info.compress_size // 2
    data[start : start + 64] = bytes(64)
    audio_zip.write_bytes(bytes(data))

    def prep(root: Path, out: str) -> dict:
        args = ["prep", "ravdess", str(root), "--out", str(tmp_path / f"s-{out}"), "--json", "-"]
        res = runner.invoke(app, args)
        assert res.exit_code in (0, 3), res.output
        return json.loads(res.stdout)

    ids = ["01-01-03-01-01-02-05", "03-01-01-01-01-01-01"]
    summary = prep(dl, "from-zips")
    errors = summary["errors"]
    assert [r["id"] for r in read_manifest(tmp_path / "s-from-zips")] == ids
    assert len(errors) == 1, errors
    assert errors[0]["error"].startswith(f"{audio_zip}:Actor_01/{damaged}: damaged in the archive ("), errors
    assert prep(unzipped, "unzipped")["errors"] == []
    stale = tmp_path / "s-from-zips/tracks/.member-x1y2.wav"  # left by a run killed outright
    stale.write_bytes(b"RIFF")
    assert prep(dl, "from-zips")["skipped"] == 2 and not stale.exists()
    shutil.copytree(unzipped, dl, dirs_exist_ok=True)  # unzipped beside the zips
    both = prep(dl, "both")
    assert both["notes"] == [f"{dl}: 3 unpacked file(s) also in a zip there, read from the zip"]
    assert (both["discovered"], both["errors"]) == (summary["discovered"], errors)  # each clip once
    for clip in ids:
        a, b, c = (load_clip(tmp_path / f"s-{s}", clip) for s in ("from-zips", "unzipped", "both"))
        for key in a:
            assert np.array_equal(a[key], b[key]) and np.array_equal(a[key], c[key]), (clip, key)
    assert not list((tmp_path / "s-from-zips" / "tracks").glob(".member-*"))
