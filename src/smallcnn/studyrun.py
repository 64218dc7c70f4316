"""`smallcnn study`: the core's architecture study on a dataset, with its table, chart and files.

The entries and the training of each are the core's (`study.STUDY`, `study.train_entry`); added here are
a time budget (an entry whose estimated cost would overrun it is listed as skipped; the ALWAYS entries
train whatever it says), the data loaded with its identity, one test evaluation each for the chosen entry
-- the best by validation accuracy -- and the spec-adapted model, and study.md / study.csv / study.json /
study.png. Every output says whether the data was the official dataset.

With `jobs` > 1 the entries train concurrently in worker processes, each with its share of the
threads: the workers read the parent's images from shared memory and train each entry exactly as the
sequential study would on that many threads (`study_entry`), so each entry's result equals the
sequential study's with the same threads per entry.
"""

import copy
import io
import math
import signal
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.multiprocessing
from torch.utils.data import Subset

from smallcnn import datastore, distributed
from smallcnn.core.data import EVAL_BATCH_SIZE, TensorLoader, split_train_val
from smallcnn.core.models import build_model, count_parameters
from smallcnn.core.plots import plot_study
from smallcnn.core.study import STUDY, chosen_entry, entry_loader, study_rows, train_entry
from smallcnn.core.train import evaluate, make_training
from smallcnn.datasets import DATASETS
from smallcnn.files import SmallCNNError, check_writable, csv_text, save_figure, write_json, write_text
from smallcnn.settings import RunConfig

# Trained whatever the budget: a plain three-block CNN of the kind published results put well above 30% (see 7(b)).
ALWAYS = ("wide-bn",)


def select_entries(names: list[str] | None = None) -> list[str]:
    """The named entries in study order (all of them when names is empty); unknown names are an error."""
    if not names:
        return list(STUDY)
    unknown = [n for n in names if n not in STUDY]
    if unknown:
        raise SmallCNNError(f"unknown study entries {', '.join(unknown)}; choose from: {', '.join(STUDY)}")
    return [name for name in STUDY if name in names]


def study_title(data) -> str:
    title = DATASETS[data.name]["title"]
    if data.official:
        return f"Architecture study on {title} (official files, checksums verified)"
    return f"Architecture study on NOT the official {title} (generated test data / checksums differ)"


def test_once(rows: list[dict], trained: dict, test_loader, device, flips: bool = False) -> str | None:
    """Test accuracy of the chosen entry and of the spec-adapted model: one evaluation each, after choosing."""
    ran = [row for row in rows if row["val_accuracy"] is not None]
    chosen = chosen_entry(ran) if ran else None
    for row in rows:
        row["test_accuracy"] = None
        if row["entry"] in {chosen, "spec"} and row["entry"] in trained:
            model = trained[row["entry"]][0]
            row["test_accuracy"] = evaluate(model, test_loader, torch.nn.CrossEntropyLoss(), device, flips)[1]
    return chosen


def format_cell(value, kind: str) -> str:
    if value is None:
        return "-"
    return {"pct": f"{value:.2%}", "pts": f"{value:+.2f}", "s": f"{value:.0f}", "int": f"{value:,}"}[kind]


def plural(n: int, word: str, words: str | None = None) -> str:
    return f"{n} {word if n == 1 else words or word + 's'}"


def log_row(row: dict, log) -> None:
    """One line per finished (or skipped) entry."""
    log(f"{row['entry']:<16} {row['status']:<8} validation {format_cell(row['val_accuracy'], 'pct')}")


def study_markdown(rows: list[dict], data, chosen: str | None, settings: dict) -> str:
    lines = [f"# {study_title(data)}", "", f"Data: {data.identity} ({data.location}).", "",
             "Entries are ranked on the validation split; the test set is evaluated once, for the chosen entry "
             f"({chosen or 'none ran'}) and for the spec-adapted model.", "",
             f"Each entry trained on {plural(settings['threads_per_entry'], 'thread')}, "
             f"{plural(settings['jobs'], 'entry', 'entries')} at a time; "
             "another thread count rounds differently, and so can change the results.", "",
             "| entry | change | validation accuracy | vs spec (points) | test accuracy | parameters | epochs | "
             "seconds | status |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['entry']} | {r['change']} | {format_cell(r['val_accuracy'], 'pct')} | "
                     f"{format_cell(r['val_delta_points'], 'pts')} | {format_cell(r['test_accuracy'], 'pct')} | "
                     f"{format_cell(r['params'], 'int')} | {r['epochs']} | {format_cell(r['seconds'], 's')} | "
                     f"{r['status']} |")
    lines += ["", "Each entry is one seeded run: differences smaller than the spread between seeds are not "
                  "evidence of an effect.", "", "![study chart](study.png)", ""]
    return "\n".join(lines)


def write_study_outputs(out: Path, rows: list[dict], data, chosen: str | None, settings: dict) -> None:
    """study.md, study.csv, study.json and study.png; `settings` holds the base recipe, the device, the jobs and
    the threads per entry."""
    write_text(out / "study.md", study_markdown(rows, data, chosen, settings))
    write_text(out / "study.csv", csv_text([{**row, "dataset_identity": data.identity} for row in rows],
                                           [*rows[0], "dataset_identity"]))
    write_json(out / "study.json", {"title": study_title(data), "dataset_identity": data.identity,
                                    "official": data.official, "chosen": chosen, **settings, "rows": rows})
    save_figure(plot_study(rows, study_title(data)), out / "study.png")


@dataclass
class StudyData:
    """What every entry trains and is judged on: the loaders on the device and the models' shape."""
    train_loader: TensorLoader
    val_loader: TensorLoader
    test_loader: TensorLoader
    shape: tuple                # (channels, image size, classes)


def study_data(data, base: RunConfig, device: torch.device) -> StudyData:
    """The split and loaders the notebook makes, for the study's configuration."""
    train_ds, val_ds = split_train_val(data.train, base.val_fraction, base.seed)
    if base.subset:
        train_ds = Subset(train_ds, range(min(base.subset, len(train_ds))))
    loaders = [TensorLoader(train_ds, base.batch_size, device, shuffle=True, augment=base.augment, seed=base.seed),
               TensorLoader(val_ds, EVAL_BATCH_SIZE, device), TensorLoader(data.test, EVAL_BATCH_SIZE, device)]
    return StudyData(*loaders, (*data.train_images.shape[1:3], len(data.classes)))


def wait_for(device: torch.device) -> None:
    """Wait until a GPU has finished its queued work: it runs kernels asynchronously, after the call returns."""
    if device.type != "cpu":  # torch.accelerator covers every GPU kind alike (CUDA, Apple's MPS)
        torch.accelerator.synchronize(device)


def estimate_seconds(name: str, study: StudyData, base: RunConfig, steps: int = 3) -> float:
    """Seconds the entry's whole run should take, from a few timed training steps of its model (after an
    untimed first one); evaluating costs about a third of training on as many images (no backward pass)."""
    variant, changes, _ = STUDY[name]
    recipe = replace(base, **changes)
    device = study.train_loader.labels.device
    torch.manual_seed(recipe.seed)
    model = build_model(variant, *study.shape).to(device, memory_format=torch.channels_last).train()
    criterion, optimizer, _ = make_training(model, recipe, 1)
    images, labels = next(iter(entry_loader(study.train_loader, recipe)))

    def step():
        loss = criterion(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step()
    wait_for(device)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    wait_for(device)
    per_image = (time.perf_counter() - start) / (steps * len(labels))
    return recipe.epochs * per_image * (len(study.train_loader.labels) + len(study.val_loader.labels) / 3)


def study_entry(name: str, study: StudyData, base: RunConfig, seconds_left: float, trained: dict) -> dict:
    """One entry's table row; trains it into `trained` unless it would not fit in seconds_left."""
    variant, changes, change = STUDY[name]
    torch.manual_seed(base.seed)
    params = count_parameters(build_model(variant, *study.shape))
    row = {"entry": name, "change": change, "params": params, "status": "ran", "val_accuracy": None,
           "seconds": None, "epochs": replace(base, **changes).epochs, "val_delta_points": None}
    if name not in trained:
        estimate = estimate_seconds(name, study, base)
        if estimate > seconds_left:
            return {**row, "status": f"skipped: needs about {estimate:.0f} s, {max(seconds_left, 0):.0f} s left"}
        device = study.train_loader.labels.device
        trained[name] = train_entry(name, study.train_loader, study.val_loader, base, device, study.shape)
    return {**row, **study_rows({name: trained[name]})[0]}


def compare_with_spec(rows: list[dict], trained: dict) -> list[dict]:
    """Each row that ran with its change in validation accuracy against the spec-adapted model, in points."""
    deltas = {row["entry"]: row["val_delta_points"] for row in study_rows(trained)} if "spec" in trained else {}
    return [{**row, "val_delta_points": deltas.get(row["entry"])} for row in rows]


def run_study(names: list[str], study: StudyData, base: RunConfig, budget_seconds: float) -> tuple[list, dict]:
    """Train every entry that fits the remaining budget; returns (table rows, {name: (model, history)}).

    The entries in ALWAYS are trained first and do not count against the budget.
    """
    trained = {}
    always = {name: study_entry(name, study, base, math.inf, trained) for name in names if name in ALWAYS}
    start = time.perf_counter()  # one entry after the other, each given the budget that is left when it starts
    rows = [always.get(name) or study_entry(name, study, base, budget_seconds - (time.perf_counter() - start),
                                            trained) for name in names]
    return compare_with_spec(rows, trained), trained


_worker = {}  # what a worker process keeps between entries: its split, model shape, configuration, deadline


def without_generators(study: StudyData) -> StudyData:
    """The study's data as the workers receive it: a torch.Generator does not survive the trip to a spawned
    process, and a worker needs none (every entry draws a fresh one from the seed, see study.entry_loader)."""
    loaders = {}
    for name in ("train_loader", "val_loader", "test_loader"):
        loaders[name] = copy.copy(getattr(study, name))
        loaders[name].generator = None
    return replace(study, **loaders)


def start_worker(study: StudyData, base: RunConfig, threads: int, budget_seconds: float) -> None:
    """Runs once in each worker process: its share of the threads; the images arrive in shared memory.

    Its budget clock starts now, once it is ready, as the sequential study's starts after loading the data.
    """
    torch.set_num_threads(threads)
    _worker.update(study=study, base=base, deadline=time.monotonic() + budget_seconds)


def train_in_worker(name: str) -> tuple[dict, bytes | None]:
    """One entry in a worker: its row, and its trained (model, history) as bytes (None when skipped)."""
    trained = {}
    seconds_left = math.inf if name in ALWAYS else _worker["deadline"] - time.monotonic()  # as run_study does
    row = study_entry(name, _worker["study"], _worker["base"], seconds_left, trained)
    if name not in trained:
        return row, None
    buffer = io.BytesIO()
    # Bytes, not tensors: torch's pickler would pass each tensor by a file descriptor of its own.
    torch.save(trained[name], buffer)
    return row, buffer.getvalue()


def submit_entries(executor: ProcessPoolExecutor, names: list[str]):
    """Submit every entry, which starts the workers. They start with SIGINT ignored, which a started
    interpreter keeps: Ctrl-C is the parent's alone (it stops them), even while one is still starting up."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return executor.map(train_in_worker, names)  # yields the results in study order, as they finish
    finally:
        signal.signal(signal.SIGINT, previous)


def interrupt(signum: int, frame) -> None:
    """SIGTERM handled as Ctrl-C is: the `finally` around the workers stops them before the parent ends."""
    raise KeyboardInterrupt(f"signal {signum}")


def stop_workers(executor: ProcessPoolExecutor) -> None:
    """Stop whatever workers remain at once (Python 3.14 names this executor.terminate_workers())."""
    for process in list((executor._processes or {}).values()):
        process.terminate()
    executor.shutdown(cancel_futures=True)


def run_study_in_parallel(names: list[str], study: StudyData, base: RunConfig, budget_seconds: float, jobs: int,
                          threads: int, log) -> tuple[list[dict], dict]:
    """The study's entries on `jobs` worker processes in study order; returns (rows, {name: (model, history)}).

    Each worker skips an entry whose estimated cost would overrun its budget, as the sequential study does.
    A worker that dies (killed, out of memory) ends the study with an error, never a wait.
    """
    # "spawn" starts a fresh interpreter (no thread pools or CUDA state forked half-way); torch's context
    # passes tensors through shared memory (CUDA ones by handle), so the workers share one copy of the split.
    executor = ProcessPoolExecutor(jobs, torch.multiprocessing.get_context("spawn"), initializer=start_worker,
                                   initargs=(without_generators(study), base, threads, budget_seconds))
    previous = signal.signal(signal.SIGTERM, interrupt)  # `kill` or `timeout` must not orphan the workers
    rows, trained = [], {}
    try:
        for row, saved in submit_entries(executor, names):
            log_row(row, log)
            rows.append(row)
            if saved is not None:  # our own worker's pickle, so weights_only=False is safe here
                trained[row["entry"]] = torch.load(io.BytesIO(saved), map_location=study.train_loader.labels.device,
                                                   weights_only=False)
        executor.shutdown()  # the workers exit on their own, releasing the shared split
    except BrokenProcessPool:
        raise SmallCNNError("a study worker process died (killed, or out of memory?); the study stopped and "
                            "wrote nothing") from None
    finally:
        stop_workers(executor)
        signal.signal(signal.SIGTERM, previous)
    return compare_with_spec(rows, trained), trained


def run_study_command(out_dir, base: RunConfig, device: torch.device, names: list[str] | None = None,
                      budget_minutes: float = 20.0, data_dir=None, allow_unofficial: bool = False, jobs: int = 1,
                      log=print) -> tuple[list[dict], str | None]:
    """Load the data, run the study within the budget, test the chosen entry and spec once, write the files.

    base and device come from settings.resolve: the dataset's recipe with the command line's settings.
    """
    if jobs < 1:
        raise SmallCNNError(f"--jobs must be at least 1 (got {jobs})")
    if distributed.world_size() > 1:
        raise SmallCNNError("the study runs in one process, not under torchrun; use --jobs N for several entries "
                            "at a time")
    names = select_entries(names)
    names = names if "spec" in names else ["spec", *names]  # every delta is measured against spec
    out = check_writable(out_dir)  # before any data is loaded or anything trained
    data = datastore.load_dataset(base.dataset, data_dir, allow_unofficial=allow_unofficial)
    study = study_data(data, base, device)
    jobs = min(jobs, len(names))  # a worker without an entry would only hold threads and memory
    available = torch.get_num_threads()  # the threads torch was given (OMP_NUM_THREADS), shared by the jobs
    threads = max(1, available // jobs)
    log(f"study on {data.identity} on {device}; budget {budget_minutes:g} minutes; {jobs} at a time, "
        f"{plural(threads, 'thread')} "
        "each" + (f" (more entries at a time than threads: they share {plural(available, 'thread')})"
                  if jobs > available else ""))
    if jobs == 1:
        rows, trained = run_study(names, study, base, budget_minutes * 60)
        for row in rows:
            log_row(row, log)
    else:
        rows, trained = run_study_in_parallel(names, study, base, budget_minutes * 60, jobs, threads, log)
    chosen = test_once(rows, trained, study.test_loader, device, base.test_flips)
    out.mkdir(parents=True, exist_ok=True)
    write_study_outputs(out, rows, data, chosen, {"config": asdict(base), "device": str(device), "jobs": jobs,
                                                  "threads_per_entry": threads})
    return rows, chosen
