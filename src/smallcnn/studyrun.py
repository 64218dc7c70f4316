"""`smallcnn study`: the core's architecture study on a dataset, with its table, chart and files.

The study itself (entries, budget, ranking on validation) is the core's `study.run_study`. Here the
data is loaded with its identity, the chosen entry -- the best by validation accuracy -- and the
spec-adapted model are each tested once, and study.md / study.csv / study.json / study.png are
written. Every output says whether the data was the official dataset.
"""

from pathlib import Path

from torch import nn

from smallcnn import datastore
from smallcnn.data import make_splits
from smallcnn.files import SmallCNNError, csv_text, write_json, write_text
from smallcnn.plots import plot_study
from smallcnn.runs import check_config, pick_device, run_config, save_figure
from smallcnn.study import STUDY, chosen_entry, run_study
from smallcnn.train import evaluate


def select_entries(names=None):
    """The named entries in study order (all of them when names is empty); unknown names are an error."""
    if not names:
        return list(STUDY)
    unknown = [n for n in names if n not in STUDY]
    if unknown:
        raise SmallCNNError(f"unknown study entries {', '.join(unknown)}; choose from: {', '.join(STUDY)}")
    return [name for name in STUDY if name in names]


def study_title(data):
    title = datastore.DATASETS[data.name]["title"]
    if data.official:
        return f"Architecture study on {title} (official files, checksums verified)"
    return f"Architecture study on NOT the official {title} (generated test data / checksums differ)"


def test_once(rows, trained, splits):
    """Test accuracy of the chosen entry and of the spec-adapted model: one evaluation each, after choosing."""
    chosen = chosen_entry(rows)
    for row in rows:
        row["test_accuracy"] = None
        if row["entry"] in {chosen, "spec"} and row["entry"] in trained:
            model, _ = trained[row["entry"]]
            row["test_accuracy"] = evaluate(model, splits.test_x, splits.test_y, nn.CrossEntropyLoss())[1]
    return chosen


def format_cell(value, kind):
    if value is None:
        return "-"
    return {"pct": f"{value:.2%}", "pts": f"{value:+.2f}", "s": f"{value:.0f}", "int": f"{value:,}"}[kind]


def study_markdown(rows, data, chosen):
    lines = [f"# {study_title(data)}", "", f"Data: {data.identity} ({data.location}).", "",
             "Entries are ranked on the validation split; the test set is evaluated once, for the chosen entry "
             f"({chosen or 'none ran'}) and for the spec-adapted model.", "",
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


def write_study_outputs(out, rows, data, chosen):
    """study.md, study.csv, study.json and study.png."""
    write_text(out / "study.md", study_markdown(rows, data, chosen))
    write_text(out / "study.csv", csv_text([{**row, "dataset_identity": data.identity} for row in rows],
                                           [*rows[0], "dataset_identity"]))
    write_json(out / "study.json", {"title": study_title(data), "dataset_identity": data.identity,
                                    "official": data.official, "chosen": chosen, "rows": rows})
    save_figure(plot_study(rows, study_title(data)), out / "study.png")


def run_study_command(out_dir, dataset="cifar100", names=None, budget_minutes=20.0, epochs=None, data_dir=None,
                      subset=0, seed=0, device="auto", allow_unofficial=False, log=print):
    """Load the data, run the study within the budget, test the chosen entry and spec once, write the files."""
    base = check_config(run_config(dataset, seed=seed, subset=subset, device=device,
                                   **({"epochs": epochs} if epochs else {})))
    names = select_entries(names)
    names = names if "spec" in names else ["spec", *names]  # every delta is measured against spec
    data = datastore.load_dataset(base.dataset, data_dir, allow_unofficial=allow_unofficial)
    splits = make_splits(data.train_images, data.train_labels, data.test_images, data.test_labels,
                         base.val_fraction, base.seed, base.subset, pick_device(device))
    shape = (data.train_images.shape[1], data.train_images.shape[2], len(data.classes))
    log(f"study on {data.identity}; budget {budget_minutes:g} minutes")
    rows, trained = run_study(names, splits, base, shape, budget_minutes * 60)
    chosen = test_once(rows, trained, splits)
    for row in rows:
        log(f"{row['entry']:<16} {row['status']:<8} validation {format_cell(row['val_accuracy'], 'pct')}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_study_outputs(out, rows, data, chosen)
    return rows, chosen
