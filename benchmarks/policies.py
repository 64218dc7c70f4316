"""Which Part 1 recipe and which kept-weights policy: chosen on the VALIDATION split, over seeds and threads.

The earlier default recipe, peak lr 0.1, is chaotic: the thread count alone (which changes the order in which
floating-point sums are rounded) moves a run's result by a point. So every candidate recipe is trained
with every seed at 1 and at 2 torch threads, and three kept-weights policies are scored on each run:

- best: the epoch with the best validation accuracy (picking the maximum of noisy figures);
- last: the last epoch of the annealed schedule (no choice at all);
- clear-lead: the best epoch only when it leads the last by more than the validation noise, else the last.

A policy that picks an epoch with the validation set cannot also be scored on it without flattering
itself, so the validation split is cut in two random halves: the policy picks on one half and is scored
on the other, then the halves swap, and the two scores are averaged. The test set is never evaluated.

    python benchmarks/policies.py [--seeds 0,1,2] [--threads 1,2] [--write benchmarks/policies.md]
"""

import argparse
import json
import math
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from timing import machine_lines, mean_sd

# name: the changes against the default Fashion-MNIST recipe
CANDIDATES = {
    "lr 0.1, 15 epochs": {"lr": 0.1, "epochs": 15},
    "lr 0.05, 15 epochs": {"lr": 0.05, "epochs": 15},
    "lr 0.1, 25 epochs": {"lr": 0.1, "epochs": 25},
    "lr 0.05, 25 epochs": {"lr": 0.05, "epochs": 25},
}
POLICIES = ("best", "last", "clear-lead")


def run_one(changes, seed, data_dir):
    """Train one run in this process; per epoch, the validation accuracy on each half of the split."""
    import torch

    from smallcnn import datastore
    from smallcnn.core.data import make_splits
    from smallcnn.core.models import build_model
    from smallcnn.core.train import default_config, evaluate, fit, make_training

    data = datastore.load_dataset("fashion-mnist", data_dir)
    config = default_config("fashion-mnist", seed=seed, **changes)
    splits = make_splits(data.train_images, data.train_labels, data.test_images, data.test_labels,
                         config.val_fraction, config.seed)
    torch.manual_seed(seed)
    model = build_model().to(memory_format=torch.channels_last)
    halves = torch.randperm(len(splits.val_y), generator=torch.Generator().manual_seed(1000 + seed))
    half_a, half_b = halves[:len(halves) // 2], halves[len(halves) // 2:]
    epochs = []

    def score_halves(state):
        _, _, predictions = evaluate(model, splits.val_x, splits.val_y, criterion)
        right = (predictions == splits.val_y).float()
        epochs.append([right[half_a].mean().item(), right[half_b].mean().item()])

    criterion, optimizer, scheduler = make_training(model, config, len(splits.train_y))
    fit(model, splits, criterion, optimizer, scheduler, config, on_epoch_end=score_halves)
    return {"epochs": epochs, "half_size": len(half_a), "threads": torch.get_num_threads()}


def pick(policy, accuracies, n):
    """The index of the epoch a policy keeps, given one half's accuracies per epoch (n images)."""
    last = len(accuracies) - 1
    best = max(range(len(accuracies)), key=lambda i: (accuracies[i], i))
    if policy == "best":
        return best
    if policy == "last":
        return last
    p = accuracies[last]
    noise = 2 * math.sqrt(2 * p * (1 - p) / n)  # two standard errors of a difference of two accuracies
    return best if accuracies[best] - accuracies[last] > noise else last


def held_out(policy, run):
    """The policy's accuracy on the half it did not choose with, averaged over both ways round."""
    a = [e[0] for e in run["epochs"]]
    b = [e[1] for e in run["epochs"]]
    return (b[pick(policy, a, run["half_size"])] + a[pick(policy, b, run["half_size"])]) / 2


def child(args):
    """Run in a fresh process with its own thread count; prints one JSON line."""
    import torch

    torch.set_num_threads(args.child_threads)
    print(json.dumps(run_one(CANDIDATES[args.child_candidate], args.child_seed, args.data_dir)))


def launch(name, seed, threads, data_dir):
    command = [sys.executable, __file__, "--child-candidate", name, "--child-seed", str(seed),
               "--child-threads", str(threads)] + (["--data-dir", data_dir] if data_dir else [])
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def collect(seeds, threads, data_dir, cache):
    """{(candidate, seed, threads): run}; runs already in the JSON-lines cache are not trained again."""
    runs = {}
    if cache.exists():
        for line in cache.read_text().splitlines():
            row = json.loads(line)
            runs[(row["candidate"], row["seed"], row["threads"])] = row["run"]
    todo = [(name, seed, t) for name in CANDIDATES for t in threads for seed in seeds if (name, seed, t) not in runs]

    def work(key):
        run = launch(*key, data_dir)
        with cache.open("a") as f:
            f.write(json.dumps({"candidate": key[0], "seed": key[1], "threads": key[2], "run": run}) + "\n")
        print(f"{key[0]:<22} seed {key[1]} threads {key[2]}: last-epoch validation "
              f"{100 * sum(run['epochs'][-1]) / 2:.2f} %", flush=True)
        runs[key] = run

    cores = os.cpu_count() or 1
    for t in threads:  # runs of t threads, as many side by side as the cores allow
        with ThreadPoolExecutor(max(1, cores // t)) as pool:
            list(pool.map(work, [key for key in todo if key[2] == t]))
    return runs


def report(runs, seeds, threads, command):
    lines = ["# Part 1 recipe and kept-weights policy, chosen on validation", "", f"Generated by `{command}`.", "",
             *[f"- {line}" for line in machine_lines()], "",
             f"Seeds {', '.join(map(str, seeds))}, each at {' and '.join(map(str, threads))} torch threads. "
             "Each cell: the held-out validation accuracy (the policy picks its epoch on one random half of the "
             "validation split and is scored on the other, both ways round), mean ± sd over all runs, then the "
             "lowest run. The test set is not evaluated.", "",
             "| candidate | " + " | ".join(POLICIES) + " |", "|---|" + "---|" * len(POLICIES)]
    scores = {}
    for name in CANDIDATES:
        cells = []
        for policy in POLICIES:
            values = [held_out(policy, runs[(name, s, t)]) for s in seeds for t in threads]
            mean, sd = mean_sd(values)
            scores[(name, policy)] = (mean, sd or 0.0, min(values))
            cells.append(f"{100 * mean:.2f} ± {100 * (sd or 0):.2f} % (min {100 * min(values):.2f})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Per thread count, the last-epoch validation accuracy (whole validation split), mean ± sd "
                  "over seeds:",
              "", "| candidate | " + " | ".join(f"{t} thread{'s' * (t > 1)}" for t in threads) + " |",
              "|---|" + "---|" * len(threads)]
    for name in CANDIDATES:
        cells = []
        for t in threads:
            mean, sd = mean_sd(sum(runs[(name, s, t)]["epochs"][-1]) / 2 for s in seeds)
            cells.append(f"{100 * mean:.2f} ± {100 * (sd or 0):.2f} %")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    # The choice: the highest mean minus one standard deviation (stability counts as much as the mean).
    order = ("last", "clear-lead", "best")  # the simpler policy first, so that it wins a tie
    chosen = max(sorted(scores, key=lambda key: order.index(key[1])), key=lambda key: scores[key][0] - scores[key][1])
    mean, sd, low = scores[chosen]
    lines += ["", f"Chosen (highest mean − sd; on a tie the simpler policy, in the order {', '.join(order)}): "
                  f"**{chosen[0]}, policy {chosen[1]}** "
                  f"({100 * mean:.2f} ± {100 * sd:.2f} %, lowest {100 * low:.2f} %).", "",
              "Every run's per-epoch figures are kept in the cache file (`--cache`, default "
              "`benchmarks/policies.jsonl`); a rerun trains only the runs it lacks. Results depend only on the seed "
              "and the thread count, not on how many runs share the machine."]
    return "\n".join(lines) + "\n", chosen


def main(argv=None):
    p = argparse.ArgumentParser(prog="python benchmarks/policies.py", description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--threads", default="1,2", help="comma-separated torch thread counts (default 1,2)")
    p.add_argument("--data-dir", help="directory holding Fashion-MNIST")
    p.add_argument("--cache", default="benchmarks/policies.jsonl", help="finished runs (reused when rerun)")
    p.add_argument("--write", metavar="FILE", help="write the markdown report here")
    for name, kind in (("candidate", str), ("seed", int), ("threads", int)):
        p.add_argument(f"--child-{name}", type=kind, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child_candidate:
        return child(args)
    seeds = [int(s) for s in args.seeds.split(",")]
    threads = [int(t) for t in args.threads.split(",")]
    runs = collect(seeds, threads, args.data_dir, Path(args.cache))
    command = f"python benchmarks/policies.py --seeds {args.seeds} --threads {args.threads}" + (
        f" --write {args.write}" if args.write else "")
    text, _ = report(runs, seeds, threads, command)
    if args.write:
        Path(args.write).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
