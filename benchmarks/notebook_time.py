"""How long the full notebook takes, part by part, with CIFAR-100-shaped data in Part 2.

The real CIFAR-100 cannot be downloaded everywhere, so Part 2 here runs on RANDOM images in the official
`cifar-100-python` layout and size (50,000 training and 10,000 test images, 100 classes); its accuracies
mean nothing, only its times do. The kernel reads them without their checksums (the builder's
GENERATED_CIFAR_PRELUDE, run before the notebook). Part 1 is real Fashion-MNIST, as in the deliverable.

    python benchmarks/notebook_time.py [--quick] [--out benchmarks/notebook_time.md]
"""

import argparse
import datetime
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np

from smallcnn import datastore
from smallcnn.notebook import build
from timing import load_line, machine_lines


def write_random_cifar100(root, n_train=50_000, n_test=10_000, seed=0):
    """Random images and labels in the official layout (pickle protocol 2, as the official files)."""
    rng = np.random.default_rng(seed)
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True)
    for name, n in (("train", n_train), ("test", n_test)):
        batch = {"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 "fine_labels": rng.integers(0, 100, n).tolist()}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
    meta = {"fine_label_names": [f"class_{i:02d}" for i in range(100)]}
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=2))


def cell_seconds(cell):
    """Seconds one executed cell took, from the timestamps nbclient records."""
    timing = cell.metadata.get("execution", {})
    start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
    if not (start and end):
        return 0.0
    parse = datetime.datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def main(argv=None):
    p = argparse.ArgumentParser(prog="python benchmarks/notebook_time.py", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="the --quick notebook (a smoke test of this script)")
    p.add_argument("--out", help="also write the lines to this file")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {"n_train": 2000, "n_test": 500} if args.quick else {}
        write_random_cifar100(Path(tmp) / build.DATA_FOLDER, **sizes)
        build.link_data(Path(tmp) / build.DATA_FOLDER, [datastore.find_source("fashion-mnist")])
        nb = build.build_notebook(args.quick)
        start = time.perf_counter()
        _, part2 = build.execute(nb, tmp, run_part2=True, prelude=build.GENERATED_CIFAR_PRELUDE)
        total = time.perf_counter() - start
    split = build.PART2
    part1 = sum(cell_seconds(c) for c in nb.cells[:split] if c.cell_type == "code")
    part2_seconds = sum(cell_seconds(c) for c in nb.cells[split:] if c.cell_type == "code")
    study = sum(row["seconds"] for row in part2.study)
    lines = [*machine_lines(), load_line(),
             f"notebook ({'quick' if args.quick else 'full'}): {total:.0f} s in all, kernel start included",
             f"  Part 1 (Fashion-MNIST, with the imports and settings): {part1:.0f} s",
             f"  Part 2 (random CIFAR-100-shaped data): {part2_seconds:.0f} s, of which the study's training "
             f"(the adapted network included) {study:.0f} s"]
    lines += [f"    {row['entry']}: {row['seconds']:.0f} s" for row in part2.study]
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
