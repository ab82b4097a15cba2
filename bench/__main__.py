"""`make bench`: run every benchmark; results print as tables and go to bench/results/*.json."""

from __future__ import annotations

import importlib
import sys

BENCHES = ["bench.render_bench", "bench.track_bench", "bench.animate_bench", "bench.batch_bench"]


def main(names: list[str]) -> None:
    for name in names or BENCHES:
        importlib.import_module(name).main()


if __name__ == "__main__":
    main(sys.argv[1:])
