"""How long the full notebook takes, part by part, with CIFAR-100-shaped data in Part 2.

The real CIFAR-100 cannot be downloaded everywhere, so Part 2 here runs on RANDOM images in the official
`cifar-100-python` layout and size (50,000 training and 10,000 test images, 100 classes); its accuracies
mean nothing, only its times do. The notebook's CIFAR-100 loader is swapped for one that skips the
checksum, in this script's copy of the notebook only. Part 1 is real Fashion-MNIST, as in the deliverable.

    python benchmarks/notebook_time.py [--quick] [--out benchmarks/notebook_time.md]
"""

import argparse
import datetime
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np
from nbformat.v4 import new_code_cell

from smallcnn import datastore
from smallcnn.notebook import build as notebook
from timing import load_line, machine_lines

UNCHECKED = '''#CODE HERE
# TIMING ONLY: random CIFAR-100-shaped files, whose checksums are not the official ones.
class UncheckedCIFAR100(torchvision.datasets.CIFAR100):
    train_list = [[name, None] for name, _ in torchvision.datasets.CIFAR100.train_list]
    test_list = [[name, None] for name, _ in torchvision.datasets.CIFAR100.test_list]
    meta = {**torchvision.datasets.CIFAR100.meta, "md5": None}'''


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
        write_random_cifar100(Path(tmp) / notebook.DATA_FOLDER, **sizes)
        notebook.show_data(Path(tmp) / notebook.DATA_FOLDER, [datastore.find_source("fashion-mnist")])
        nb = notebook.build_notebook(args.quick)
        part2 = notebook.part2_cells(nb).start
        for cell in nb.cells[part2:]:
            cell.source = cell.source.replace("torchvision.datasets.CIFAR100", "UncheckedCIFAR100")
        nb.cells.insert(part2 + 1, new_code_cell(UNCHECKED))
        start = time.perf_counter()
        results = notebook.execute(nb, tmp, run_part2=True)
        total = time.perf_counter() - start
    part1 = sum(cell_seconds(c) for c in nb.cells[:part2] if c.cell_type == "code")
    part2_seconds = sum(cell_seconds(c) for c in nb.cells[part2:] if c.cell_type == "code")
    study = sum(cell_seconds(c) for c in nb.cells[part2:] if c.cell_type == "code" and "run_study(" in c.source)
    lines = [*machine_lines(), load_line(),
             f"notebook ({'quick' if args.quick else 'full'}): {total:.0f} s in all, kernel start included",
             f"  Part 1 (Fashion-MNIST, with the imports and settings): {part1:.0f} s",
             f"  Part 2 (random CIFAR-100-shaped data): {part2_seconds:.0f} s, of which the study {study:.0f} s"]
    spec = results["part2"]["history"]
    lines.append(f"    spec (item 4): {sum(row['seconds'] for row in spec):.0f} s for {len(spec)} epochs")
    lines += [f"    {row['entry']}: " + (f"{row['seconds']:.0f} s for {row['epochs']} epochs"
                                         if row["status"] == "ran" else row["status"])
              for row in results["part2"]["study"] if row["entry"] != "spec"]
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
