"""A small regression model trained by the shared loop; run as a script by the tests (also under
torchrun). Prints nothing; writes `losses.json` (rank 0) into the run folder, and beside the run
folder the names of the threads each rank has left as it exits (`RUN_DIR-threads-rankN.json`).

usage: python tests/toy_train.py RUN_DIR NAME STEPS BATCH [--resume] [--slow-after N] [--dropout P]
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from talkface_cli.config import TrainConfig
from talkface_cli.training.run import train_and_publish


@dataclass
class ToyConfig:
    width: int = 16
    train: TrainConfig = field(default_factory=TrainConfig)


class ToyTask:
    def __init__(self, slow_after: int = -1, dropout: float = 0.1):
        g = torch.Generator().manual_seed(123)
        self.x = torch.randn(64, 8, generator=g)
        self.y = torch.sin(self.x @ torch.randn(8, 2, generator=g))
        self.slow_after = slow_after
        self.dropout = dropout

    def build_model(self) -> nn.Module:
        return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Dropout(self.dropout), nn.Linear(16, 2))

    def train_size(self) -> int:
        return len(self.x)

    def batch(self, idx, device):
        return self.x[idx].to(device), self.y[idx].to(device)

    def loss(self, model, batch, step):
        if 0 <= self.slow_after <= step:
            time.sleep(0.3)  # gives the test time to kill this process mid-run
        x, y = batch
        mse = ((model(x) - y) ** 2).mean()
        return mse, {"mse": mse.item()}

    def validate(self, model, device):
        model.eval()
        with torch.no_grad():
            return {"val_mse": ((model(self.x.to(device)) - self.y.to(device)) ** 2).mean().item()}


def main(argv: list[str]) -> None:
    run_dir, name, steps, batch = argv[0], argv[1], int(argv[2]), int(argv[3])
    slow_after = int(argv[argv.index("--slow-after") + 1]) if "--slow-after" in argv else -1
    dropout = float(argv[argv.index("--dropout") + 1]) if "--dropout" in argv else 0.1
    cfg = ToyConfig(
        train=TrainConfig(
            steps=steps,
            batch_size=batch,
            lr=1e-2,
            seed=7,
            log_every=1,
            val_every=5,
            ckpt_every=5,
            keep_ckpts=3,
        )
    )
    result, entry = train_and_publish(
        ToyTask(slow_after, dropout), cfg, name, run_dir=run_dir, resume="--resume" in argv, device="cpu"
    )
    if entry is not None:
        (entry.path.parent / f"{entry.ref.name}.losses.json").write_text(json.dumps(result.losses))
    tasks = Path("/proc/self/task")  # threads left running as the process goes on to exit (Linux)
    names = [(t / "comm").read_text().strip() for t in tasks.iterdir()] if tasks.is_dir() else None
    beside = Path(run_dir).with_name(f"{Path(run_dir).name}-threads-rank{os.environ.get('RANK', '0')}.json")
    beside.write_text(json.dumps(names))


if __name__ == "__main__":
    main(sys.argv[1:])
