"""The shared training loop: exact resume after SIGKILL, DDP equivalence, logs and checkpoints."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from talkface_cli.training.loop import batch_indices, latest_checkpoint

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = str(ROOT / "tests" / "toy_train.py")


def _env(home: Path) -> dict:
    return {**os.environ, "TALKFACE_HOME": str(home), "PYTHONPATH": str(ROOT), "TALKFACE_NO_PROGRESS": "1"}


def _run(home: Path, *args: str, launcher: list[str] | None = None) -> subprocess.CompletedProcess:
    cmd = (launcher or [sys.executable]) + [SCRIPT, *args]
    out = subprocess.run(cmd, env=_env(home), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return out


def _torchrun(port_offset: int) -> list[str]:
    """Two processes on this machine, on a port of this test process's own."""
    port = str(29500 + (os.getpid() + port_offset) % 1000)
    return [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", port]


def _weights(home: Path, name: str) -> dict[str, torch.Tensor]:
    return load_file(str(home / "models" / "sync" / name / "model.safetensors"))


def test_batches_cover_each_epoch_once():
    n, b = 10, 4
    seen = torch.cat([batch_indices(3, s, b, n) for s in range(5)])  # 20 indices = 2 epochs
    assert sorted(seen[:10].tolist()) == list(range(10))
    assert sorted(seen[10:].tolist()) == list(range(10))
    assert torch.equal(batch_indices(3, 2, b, n), batch_indices(3, 2, b, n))


def test_each_torchrun_process_caches_its_own_share_of_the_clips_first(monkeypatch):
    """The first pass over a store (features, renders, emotion conditions) is split across torchrun's
    processes by order alone: each starts with its share, every clip still comes once to each."""
    from talkface_cli.training.distributed import own_share_first

    clips = list("abcdefg")
    monkeypatch.delenv("RANK", raising=False)
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert own_share_first(clips) == clips
    monkeypatch.setenv("WORLD_SIZE", "3")
    orders = []
    for rank in "012":
        monkeypatch.setenv("RANK", rank)
        orders.append(own_share_first(clips))
    assert [o[:3] for o in orders] == [list("adg"), list("be") + ["a"], list("cf") + ["a"]]
    assert all(sorted(o) == clips for o in orders)
    assert sorted(x for o, n in zip(orders, (3, 2, 2)) for x in o[:n]) == clips  # the shares cover all


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGINT"])
def test_resume_after_sigkill_is_bit_identical(tmp_path, sig):
    home = tmp_path / "home"
    _run(home, str(tmp_path / "run-a"), "sync/full", "20", "8")

    run_b = tmp_path / "run-b"
    cmd = [sys.executable, SCRIPT, str(run_b), "sync/resumed", "20", "8", "--slow-after", "10"]
    proc = subprocess.Popen(cmd, env=_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and not (run_b / "checkpoints" / "step-00000010").is_dir():
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    time.sleep(0.4)  # now inside step 11 or 12
    proc.send_signal(getattr(signal, sig))
    err = proc.communicate()[1].decode()
    if sig == "SIGKILL":
        assert proc.returncode == -signal.SIGKILL
    else:  # Ctrl-C: the error says where the run can go on
        assert f"sync/resumed: training interrupted; the checkpoint of step 10 in {run_b} is kept" in err
    assert not (home / "models" / "sync" / "resumed").exists()
    assert int(latest_checkpoint(run_b).name[5:]) == 10

    _run(home, str(run_b), "sync/resumed", "20", "8", "--resume")
    a, b = _weights(home, "full"), _weights(home, "resumed")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    rows = [json.loads(x) for x in (run_b / "metrics.jsonl").read_text().splitlines()]
    steps = [r["step"] for r in rows if r["split"] == "train"]
    assert steps == list(range(1, 21))  # rows after the checkpoint were dropped, none twice
    meta = json.loads((home / "models" / "sync" / "resumed" / "meta.json").read_text())
    assert meta["step"] == 20 and "val_mse" in meta["metrics"]


def test_a_run_stopped_before_its_first_checkpoint_starts_again_with_a_clean_log(tmp_path):
    home, run = tmp_path / "home", tmp_path / "run"
    cmd = [sys.executable, SCRIPT, str(run), "sync/again", "20", "8", "--slow-after", "1"]
    proc = subprocess.Popen(cmd, env=_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log, deadline = run / "metrics.jsonl", time.time() + 120
    while time.time() < deadline and not (log.exists() and len(log.read_text().splitlines()) >= 2):
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert latest_checkpoint(run) is None
    _run(home, str(run), "sync/again", "20", "8", "--resume")  # no checkpoint: starts afresh
    rows = [json.loads(x) for x in log.read_text().splitlines()]
    assert [r["step"] for r in rows if r["split"] == "train"] == list(range(1, 21))


def test_rerun_without_resume_is_refused(tmp_path):
    home = tmp_path / "home"
    old = os.umask(0o022)
    try:
        _run(home, str(tmp_path / "run"), "sync/one", "5", "8")
    finally:
        os.umask(old)
    # checkpoints and the published model are as readable as any file the user makes (tempfile
    # and safetensors create theirs private)
    written = [*(tmp_path / "run").rglob("*"), *(home / "models").rglob("*")]
    assert {stat.S_IMODE(p.stat().st_mode) for p in written if p.is_file()} == {0o644}
    assert {stat.S_IMODE(p.stat().st_mode) for p in written if p.is_dir()} == {0o755}
    cmd = [sys.executable, SCRIPT, str(tmp_path / "run"), "sync/two", "5", "8"]
    out = subprocess.run(cmd, env=_env(home), capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "pass --resume" in out.stderr


def test_a_run_still_going_is_not_resumed_beside_itself(tmp_path):
    """`--resume` from a second terminal while the run goes on (a dropped SSH session leaves it
    running) is refused, naming the run's process: the two cleared each other's checkpoint being
    written and pruned each other's. The run goes on to its end undisturbed, and leaves no lock."""
    from talkface_cli.lock import LOCK

    home, run = tmp_path / "home", tmp_path / "run"
    cmd = [sys.executable, SCRIPT, str(run), "sync/long", "12", "8", "--slow-after", "5"]
    proc = subprocess.Popen(cmd, env=_env(home), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and latest_checkpoint(run) is None:
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        time.sleep(0.05)
    again = [sys.executable, SCRIPT, str(run), "sync/long", "12", "8", "--resume"]
    out = subprocess.run(again, env=_env(home), capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert f"{run}: in use by training of sync/long, process {proc.pid} on " in out.stderr
    assert proc.wait(timeout=120) == 0, proc.stderr.read().decode()[-2000:]
    assert int(latest_checkpoint(run).name[5:]) == 12 and not (run / LOCK).exists()
    meta = json.loads((home / "models" / "sync" / "long" / "meta.json").read_text())
    assert meta["step"] == 12


def test_a_held_folder_is_made_and_left_as_its_work_leaves_it(tmp_path):
    """`working_in` makes a missing folder and removes it if its work wrote nothing; a folder
    removed under the work (by hand) lets the work's own error through."""
    from talkface_cli.lock import LOCK, held, working_in

    with working_in(tmp_path / "empty", "training of sync/x"):
        assert [p.name for p in (tmp_path / "empty").iterdir()] == [LOCK] and held(tmp_path / "empty")
    assert not (tmp_path / "empty").exists() and not held(tmp_path / "empty")
    (tmp_path / "killed").mkdir()  # the lock file a SIGKILLed run leaves is no one's
    (tmp_path / "killed" / LOCK).write_text("training of sync/x, process 1 on host")
    assert not held(tmp_path / "killed")
    with working_in(tmp_path / "kept", "training of sync/x"):
        (tmp_path / "kept" / "config.json").write_text("{}")
    assert [p.name for p in (tmp_path / "kept").iterdir()] == ["config.json"]
    with pytest.raises(ValueError, match="its own"):
        with working_in(tmp_path / "gone", "training of sync/x"):
            shutil.rmtree(tmp_path / "gone")
            raise ValueError("its own")


def test_ddp_two_processes_match_single_process(tmp_path):
    # Without dropout the model is deterministic, so 2 x 8 samples must give the 16-sample run.
    home = tmp_path / "home"
    _run(home, str(tmp_path / "single"), "sync/single", "12", "16", "--dropout", "0")
    _run(home, str(tmp_path / "ddp"), "sync/ddp", "12", "16", "--dropout", "0", launcher=_torchrun(0))
    single = json.loads((home / "models" / "sync" / "single.losses.json").read_text())
    ddp = json.loads((home / "models" / "sync" / "ddp.losses.json").read_text())
    assert len(single) == len(ddp) == 12
    assert single[-1] < single[0]
    assert max(abs(x - y) for x, y in zip(single, ddp)) < 1e-5
    # the process group is freed before exit: no gloo thread is left to abort it ("terminate
    # called without an active exception", torchrun's exit code 1 for a finished run)
    for rank in (0, 1):
        names = json.loads((tmp_path / f"ddp-threads-rank{rank}.json").read_text())
        assert names is None or not [n for n in names if "gloo" in n], names


def test_a_torchrun_error_is_said_once_by_each_process(tmp_path):
    """The real command under torchrun: the first process says the error, the second names its rank
    (both printed the same line before; see test_cli for bars and stop lines). torchrun stops the
    other process when one fails: one that had not yet failed says `terminated`, or nothing."""
    args = ["train-sync", "--data", str(tmp_path / "none"), "--name", "sync/x"]
    cmd = _torchrun(1) + ["-m", "talkface_cli", *args]
    out = subprocess.run(cmd, env=_env(tmp_path / "home"), capture_output=True, text=True, timeout=120)
    said = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    store = f"{tmp_path / 'none'}: not a clip store (no manifest.jsonl; run `talkface prep` first)"
    mine, side = f"error: {store}", f"error: rank 1: {store}"
    assert out.returncode != 0 and len(said) == len(set(said)), out.stderr[-2000:]
    assert {mine, side} & set(said) and set(said) <= {mine, side, "error: terminated"}, out.stderr[-2000:]


def test_a_run_never_goes_among_a_users_files(tmp_path):
    from typer.testing import CliRunner

    from talkface_cli.app import app

    project = tmp_path / "project"
    project.mkdir()
    (project / "config.json").write_text('{"my": "settings"}')  # a project's own config, not a run's
    res = CliRunner().invoke(app, ["train-sync", "--data", str(tmp_path / "none"), "--name", "sync/x",
                                   "--run-dir", str(project)])  # fmt: skip
    assert str(res.exception) == (
        f"{project / 'config.json'}: not a training run's config; give --run-dir a new or empty folder"
    )  # said before the (missing) data is looked at
    (project / "notes.txt").write_text("mine")
    cmd = [sys.executable, SCRIPT, str(project), "sync/y", "5", "8"]
    out = subprocess.run(cmd, env=_env(tmp_path / "home"), capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "(notes.txt), not a training run" in out.stderr
    assert sorted(p.name for p in project.iterdir()) == ["config.json", "notes.txt"]
    assert (project / "config.json").read_text() == '{"my": "settings"}'
    _run(tmp_path / "home", str(tmp_path / "run"), "sync/z", "5", "8")  # a run's own folder resumes
    _run(tmp_path / "home", str(tmp_path / "run"), "sync/z2", "5", "8", "--resume")


def test_a_resume_on_clips_other_than_the_runs_is_refused(chain, talkface_home, tmp_path):
    """A run keeps the record of its training clips. Resumed after its store was split again, it
    would learn from clips its model's record does not list (test clips now): refused, in one
    line; on the same clips it resumes."""
    import shutil

    from talkface_cli import presets  # noqa: F401
    from talkface_cli.config import make_config
    from talkface_cli.data.provenance import TRAINED
    from talkface_cli.data.store import read_manifest, write_manifest
    from talkface_cli.errors import TalkfaceError
    from talkface_cli.training.sync import train_sync
    from tests.chain import SYNC_FAST

    _, store, _ = chain  # its store; the models go to this test's own home
    copy, run = tmp_path / "store", tmp_path / "run"
    shutil.copytree(store, copy)
    cfg = make_config("sync", "tiny", [*SYNC_FAST, "train.steps=2", "train.ckpt_every=1"])
    train_sync(cfg, [copy], "sync/a", run_dir=run, device="cpu")
    kept = (run / TRAINED).read_bytes()
    assert kept == (talkface_home / "models/sync/a" / TRAINED).read_bytes()
    records = read_manifest(copy)
    moved = next(r for r in records if r["split"] == "train")
    write_manifest(copy, [r | {"split": "test"} if r is moved else r for r in records])
    with pytest.raises(TalkfaceError, match="the training clips are not those the run began with"):
        train_sync(cfg, [copy], "sync/b", run_dir=run, resume=True, device="cpu")
    assert (run / TRAINED).read_bytes() == kept and not (talkface_home / "models/sync/b").exists()
    write_manifest(copy, records)
    train_sync(cfg, [copy], "sync/c", run_dir=run, resume=True, device="cpu")
    assert (talkface_home / "models/sync/c" / TRAINED).read_bytes() == kept


def test_a_held_out_clip_trained_on_through_another_store_is_not_held_out(chain, tmp_path):
    """Two stores of one corpus, split apart (RAVDESS's wavs prepared as one store, its videos as
    another): a validation clip of one may be a training clip of the other. A task's held-out
    clips leave it out, so its validation report is of unheard clips."""
    import shutil

    from talkface_cli import presets  # noqa: F401
    from talkface_cli.config import make_config
    from talkface_cli.data.store import read_manifest, write_manifest
    from talkface_cli.training.sync import SyncTask
    from tests.chain import SYNC_FAST

    _, store, _ = chain
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(store, a)
    shutil.copytree(store, b)
    records = read_manifest(b)
    moved = next(r for r in records if r["split"] == "train")
    write_manifest(b, [r | {"split": "val"} if r is moved else r for r in records])
    task = SyncTask(make_config("sync", "tiny", SYNC_FAST), [a, b])
    held = [(c.store.name, c.id) for c in task.held]
    assert ("b", moved["id"]) not in held
    assert sorted(i for s, i in held if s == "a") == sorted(i for s, i in held if s == "b")
