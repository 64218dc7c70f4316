"""Time to accuracy on Fashion-MNIST: the plain starter completion, the recipes, side by side.

    python benchmarks/time_to_accuracy.py [--recipes plain,today,...] [--seeds 0,1,2,3,4]
                                          [--threads 1,2] [--out benchmarks/time_to_accuracy]

Every run trains the assignment's network on the seeded split and reports its training seconds (the
epoch loop as the notebook runs it: training, then validation, every epoch) and its validation and test
accuracy. "plain" is the starter completed the simplest way (tests/fixtures/plain_completion.ipynb: its
DataLoaders, batch 64, SGD at 0.01 with momentum 0.9, 15 epochs), run from its own cells; the other
recipes run the package's core as the notebook does: "today" is the recipe this benchmark replaced, the
others change it one lever at a time, then in combinations. Runs are kept in OUT/runs.jsonl (a rerun
only trains what is missing); OUT/table.md and OUT/frontier.png are written from all of them. The table
states the choice, made on validation accuracy only (see choose), and marks the recipe the package ships;
the test column is reported, never used to choose.

    python benchmarks/time_to_accuracy.py --threads 1 --seeds 0,1,2 --out benchmarks/time_to_accuracy/levers \
        --choose --recipes today,e15,...   round 1: every lever and combination, on three seeds
    python benchmarks/time_to_accuracy.py --threads 2 --seeds 42,5,6,7,8 --out benchmarks/time_to_accuracy/levers-2t \
        --choose --recipes today,...   round 2, the choice: round 1's pick (b256-e20-flip-tta) blew up on seed 42,
        the notebook's, and on seed 5, so the leading candidates ran again on five other seeds
    python benchmarks/time_to_accuracy.py   the plain completion, today's recipe, the chosen one and the fast
        candidates, seeds 0-4 at 1 and 2 threads, in one run on a quiet machine: the frontier
"""

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path

import matplotlib.pyplot as plt
import torch

from smallcnn import datastore
from smallcnn.core.data import EVAL_BATCH_SIZE, TensorLoader, split_train_val
from smallcnn.core.models import SmallCNN
from smallcnn.core.train import RECIPES, TrainConfig, evaluate, fit, make_training
from smallcnn.notebook.build import link_data
from smallcnn.published import load_published
from timing import machine_lines, mean_sd

HERE = Path(__file__).resolve().parent
PLAIN = HERE.parent / "tests" / "fixtures" / "plain_completion.ipynb"
PLAIN_CELLS = {"setup": (1, 3, 4, 6, 8, 10), "train": 12, "test": 16}  # the starter's Part 1 cells
TODAY = TrainConfig(epochs=25, lr=0.05)  # the default recipe when this benchmark was written (2026-12-07)


# Each recipe lever alone against today's recipe, then combinations ("tta": test-time flips), as
# changes to TODAY. b256-e15-tta (test-time flips without flips in training) is kept for its measured
# runs: the recipe now refuses it (TrainConfig's check), since it costs ten points.
CANDIDATES = {
    "today": {},
    "e15": {"epochs": 15},
    "b256-e15": {"epochs": 15, "batch_size": 256, "lr": 0.1},
    "b512-e15": {"epochs": 15, "batch_size": 512, "lr": 0.2},
    "b256-e15-flip": {"epochs": 15, "batch_size": 256, "lr": 0.1, "augment": "flip"},
    "b256-e15-tta": {"epochs": 15, "batch_size": 256, "lr": 0.1, "test_flips": True},
    "b256-e15-ls": {"epochs": 15, "batch_size": 256, "lr": 0.1, "label_smoothing": 0.1},
    "b256-e15-flip-tta": {"epochs": 15, "batch_size": 256, "lr": 0.1, "augment": "flip", "test_flips": True},
    "b256-e15-flip-tta-lr15": {"epochs": 15, "batch_size": 256, "lr": 0.15, "augment": "flip", "test_flips": True},
    "b256-e20-flip-tta": {"epochs": 20, "batch_size": 256, "lr": 0.1, "augment": "flip", "test_flips": True},
    "b256-e20-flip-tta-lr07": {"epochs": 20, "batch_size": 256, "lr": 0.07, "augment": "flip", "test_flips": True},
    "e15-flip-tta": {"epochs": 15, "augment": "flip", "test_flips": True},
    "e20-flip-tta": {"epochs": 20, "augment": "flip", "test_flips": True},
    "today-flip-tta": {"augment": "flip", "test_flips": True},
}


def plain_run(seed: int, data_root: Path) -> dict:
    """The plain completion's Part 1, from its own cells: seeded, trained, tested once."""
    cells = json.loads(PLAIN.read_text())["cells"]
    source = {i: "".join(cells[i]["source"]) for i in range(len(cells))}
    namespace = {}
    cwd = os.getcwd()
    os.chdir(data_root)  # the cells read ./data, as on a student's machine
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            for index in PLAIN_CELLS["setup"]:
                exec(source[index].replace("set_seed(42)", f"set_seed({seed})"), namespace)
            start = time.perf_counter()
            exec(source[PLAIN_CELLS["train"]], namespace)
            seconds = time.perf_counter() - start
            exec(source[PLAIN_CELLS["test"]], namespace)
    finally:
        os.chdir(cwd)
    return {"seconds": seconds, "epochs": namespace["epochs"], "val_accuracy": namespace["val_accs"][-1],
            "test_accuracy": namespace["test_acc"]}


def recipe_run(recipe: TrainConfig, seed: int, dataset) -> dict:
    """One run of the core as the notebook does it: the seeded split, my loaders, fit, one test."""
    recipe = replace(recipe, seed=seed)
    device = torch.device("cpu")
    train_ds, val_ds = split_train_val(dataset.train, recipe.val_fraction, recipe.seed)
    train_loader = TensorLoader(train_ds, recipe.batch_size, device, shuffle=True, augment=recipe.augment,
                                seed=recipe.seed)
    val_loader = TensorLoader(val_ds, EVAL_BATCH_SIZE, device)
    test_loader = TensorLoader(dataset.test, EVAL_BATCH_SIZE, device)
    torch.manual_seed(recipe.seed)
    model = SmallCNN().to(memory_format=torch.channels_last)
    criterion, optimizer, scheduler = make_training(model, recipe, len(train_loader))
    history = fit(model, train_loader, val_loader, criterion, optimizer, scheduler, device, recipe.epochs,
                  recipe.test_flips)
    return {"seconds": sum(history["seconds"]), "epochs": recipe.epochs, "val_accuracy": history["val_accs"][-1],
            "test_accuracy": evaluate(model, test_loader, criterion, device, recipe.test_flips)[1]}


def settings(name: str) -> dict:
    """What identifies a recipe's runs in the cache: its settings (a changed recipe is trained again)."""
    return {"plain": "tests/fixtures/plain_completion.ipynb"} if name == "plain" else {**asdict(TODAY),
                                                                                       **CANDIDATES[name]}


def load_runs(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def run_missing(names: list[str], seeds: list[int], threads: list[int], out: Path) -> None:
    """Train every (recipe, threads, seed) not yet in OUT/runs.jsonl, appending each as it finishes."""
    cache = out / "runs.jsonl"
    done = {(r["recipe"], json.dumps(r["settings"], sort_keys=True), r["threads"], r["seed"])
            for r in load_runs(cache)}
    dataset = datastore.load_dataset("fashion-mnist")
    with tempfile.TemporaryDirectory() as folder:
        link_data(Path(folder) / "data", [datastore.find_source("fashion-mnist")])
        for count in threads:
            torch.set_num_threads(count)
            for name in names:
                for seed in seeds:
                    key = (name, json.dumps(settings(name), sort_keys=True), count, seed)
                    if key in done:
                        continue
                    result = plain_run(seed, Path(folder)) if name == "plain" else \
                        recipe_run(replace(TODAY, **CANDIDATES[name]), seed, dataset)
                    row = {"recipe": name, "settings": settings(name), "threads": count, "seed": seed, **result}
                    print(f"{name:<12} {count} thread(s) seed {seed}: {result['seconds']:6.1f} s, validation "
                          f"{result['val_accuracy']:.2%}, test {result['test_accuracy']:.2%}", flush=True)
                    with cache.open("a") as f:
                        f.write(json.dumps(row) + "\n")


def summary(runs: list[dict], names: list[str], seeds: list[int], threads: list[int]) -> list[dict]:
    """One row per recipe and thread count: mean ± sd over the seeds of seconds and accuracies."""
    rows = []
    for name in names:
        for count in threads:
            mine = [r for r in runs if r["recipe"] == name and r["threads"] == count and r["seed"] in seeds
                    and r["settings"] == settings(name)]
            if not mine:
                continue
            row = {"recipe": name, "threads": count, "runs": len(mine), "epochs": mine[0]["epochs"]}
            for key in ("seconds", "val_accuracy", "test_accuracy"):
                row[key], row[f"{key}_sd"] = mean_sd(r[key] for r in mine)
            row["lowest_test"] = min(r["test_accuracy"] for r in mine)
            rows.append(row)
    return rows


TARGET = 0.90  # the test accuracy a recipe should reach: above the paper's best (SVC, 89.7 %) by a margin
PAPER_BEST = max(row["fashion_mnist"] for row in load_published()["fashion_mnist_table3"]["rows"])  # Table 3's best


def choose(rows: list[dict]) -> list[str]:
    """The choice, on validation only: the fastest recipe whose mean validation accuracy clears TARGET plus
    the validation-over-test margin of today's recipe (a property of the split, measured on one recipe, so
    the test set sets the bar's offset but never orders the candidates). Rows at the fewest threads."""
    threads = min(r["threads"] for r in rows)
    mine = [r for r in rows if r["threads"] == threads and r["recipe"] != "plain"]
    today = next((r for r in mine if r["recipe"] == "today"), None)
    if today is None:
        return []
    bar = TARGET + today["val_accuracy"] - today["test_accuracy"]
    clear = sorted((r for r in mine if r["val_accuracy"] >= bar), key=lambda r: r["seconds"])
    lines = [f"Choice on validation ({threads} thread{'s' * (threads > 1)}): the bar is {bar:.2%}, "
             f"{TARGET:.0%} plus today's validation-over-test margin; clearing it: "
             + (", ".join(r["recipe"] for r in clear) or "none")
             + (f"; the fastest of them: **{clear[0]['recipe']}**." if clear else ".")]
    return lines


def fastest_to(rows: list[dict], accuracy: float) -> list[str]:
    """For each thread count, the fastest recipe whose mean test accuracy reaches `accuracy` (reported, not chosen)."""
    lines = []
    for threads in sorted({r["threads"] for r in rows}):
        reach = [r for r in rows if r["threads"] == threads and r["test_accuracy"] >= accuracy]
        best = min(reach, key=lambda r: r["seconds"], default=None)
        lines.append(f"Fastest to {accuracy:.1%} mean test accuracy at {threads} thread{'s' * (threads > 1)}: "
                     + (f"{best['recipe']}, {best['seconds']:.1f} s." if best else "none."))
    return lines


LOWEST = 0.895     # no run of the default recipe below this (issue #27's targets, with TARGET
TIME_SHARE = 0.5   # and at most this share of today's recipe's training time)


def targets(rows: list[dict]) -> list[str]:
    """For each thread count, the shipped recipe against the targets: its mean and lowest test accuracy, and its
    training time as a multiple of today's recipe's."""
    lines = []
    for threads in sorted({r["threads"] for r in rows}):
        mine = {r["recipe"]: r for r in rows if r["threads"] == threads}
        ours = next((r for r in mine.values() if shipped(r["recipe"])), None)
        if ours is None or "today" not in mine:
            continue
        ratio = ours["seconds"] / mine["today"]["seconds"]
        lines.append(f"Targets at {threads} thread{'s' * (threads > 1)}, {ours['recipe']}: mean test "
                     f"{ours['test_accuracy']:.2%} (at least {TARGET:.1%}: {met(ours['test_accuracy'] >= TARGET)}), "
                     f"lowest {ours['lowest_test']:.2%} (at least {LOWEST:.1%}: {met(ours['lowest_test'] >= LOWEST)}), "
                     f"{ratio:.2f}x today's training time (at most {TIME_SHARE}x: {met(ratio <= TIME_SHARE)}).")
    return lines


def met(ok: bool) -> str:
    return "met" if ok else "missed"


def shipped(name: str) -> bool:
    return name != "plain" and settings(name) == asdict(RECIPES["fashion-mnist"])


def table_markdown(rows: list[dict], command: str, choosing: bool = False) -> str:
    lines = [f"Command: `{command}`", "", *(f"- {line}" for line in machine_lines()), "",
             "| recipe | threads | epochs | runs | training seconds | validation accuracy | test accuracy | "
             "lowest test |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['recipe']}{' (shipped)' if shipped(r['recipe']) else ''} | {r['threads']} | "
                     f"{r['epochs']} | {r['runs']} | "
                     f"{r['seconds']:.1f} ± {r['seconds_sd'] or 0:.1f} | "
                     f"{r['val_accuracy']:.2%} ± {100 * (r['val_accuracy_sd'] or 0):.2f} | "
                     f"{r['test_accuracy']:.2%} ± {100 * (r['test_accuracy_sd'] or 0):.2f} | "
                     f"{r['lowest_test']:.2%} |")
    chosen = ["The recipe was chosen on validation in time_to_accuracy/levers/ and levers-2t/."]
    lines += ["", *(choose(rows) if choosing else chosen), "", *targets(rows), "", *fastest_to(rows, PAPER_BEST), "",
              "Runs are kept in runs.jsonl and only missing ones are trained, so a table's rows may come from "
              "different invocations."]
    return "\n".join(lines) + "\n"


def frontier_figure(rows: list[dict]) -> plt.Figure:
    """Test accuracy against training seconds, mean ± sd over seeds, one point per recipe and thread count."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for count, marker in ((1, "o"), (2, "s")):
        mine = [r for r in rows if r["threads"] == count]
        ax.errorbar([r["seconds"] for r in mine], [100 * r["test_accuracy"] for r in mine],
                    xerr=[r["seconds_sd"] or 0 for r in mine], yerr=[100 * (r["test_accuracy_sd"] or 0) for r in mine],
                    fmt=marker, capsize=3, label=f"{count} thread{'s' * (count > 1)}")
        for r in mine:
            ax.annotate(r["recipe"], (r["seconds"], 100 * r["test_accuracy"]), xytext=(5, 3),
                        textcoords="offset points", fontsize=8)
    ax.axhline(100 * TARGET, color="grey", linestyle="--", linewidth=1)  # the accuracy target
    for r in (r for r in rows if r["recipe"] == "today"):  # the time target: half of today's, per thread count
        ax.axvline(r["seconds"] / 2, color="C0" if r["threads"] == 1 else "C1", linestyle=":", linewidth=1)
    ax.set(xlabel="training seconds (mean over seeds); dotted: half of today's; dashed: the 90 % target",
           ylabel="test accuracy (%)",
           title="Fashion-MNIST: time to accuracy of the assignment's network")
    ax.grid(True)
    ax.legend()
    fig.tight_layout()
    return fig


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", default="plain,today,today-flip-tta,b256-e20-flip-tta,b256-e15-flip-tta")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--out", default=str(HERE / "time_to_accuracy"))
    parser.add_argument("--choose", action="store_true", help="state the choice on validation (the levers' table)")
    args = parser.parse_args(argv)
    names, out = args.recipes.split(","), Path(args.out)
    seeds, threads = [int(s) for s in args.seeds.split(",")], [int(t) for t in args.threads.split(",")]
    out.mkdir(parents=True, exist_ok=True)
    run_missing(names, seeds, threads, out)
    rows = summary(load_runs(out / "runs.jsonl"), names, seeds, threads)
    command = "python benchmarks/time_to_accuracy.py " + " ".join(sys.argv[1:] if argv is None else argv)
    (out / "table.md").write_text(table_markdown(rows, command.strip(), args.choose))
    frontier_figure(rows).savefig(out / "frontier.png", dpi=110)
    print((out / "table.md").read_text())


if __name__ == "__main__":
    main()
