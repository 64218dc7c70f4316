"""Run `smallcnn bench` from a checkout without installing: python benchmarks/bench.py [--quick] [--levers] ..."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from smallcnn.cli import main  # noqa: E402  (needs the path above)

raise SystemExit(main(["bench", *sys.argv[1:]]))
