"""Run a notebook's Part 1 the way a TA on another machine would: `python tests/elsewhere.py NOTEBOOK`.

The notebook runs in its own folder (which must hold data/ in torchvision's layout) in a kernel whose
Python has torch, torchvision, numpy and matplotlib but cannot import smallcnn, with a HOME of the
folder's own (no cache of ours). Prints one JSON line: the cells' errors, the probe's answer, the outputs.
"""

import json
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

# The kernel drops every sys.path entry that holds the smallcnn package (the editable install's src/).
KERNEL_CODE = ("import os, sys; sys.path[:] = [p for p in sys.path if not os.path.isdir(os.path.join(p, 'smallcnn'))]; "
               "from ipykernel import kernelapp; kernelapp.launch_new_instance()")
PROBE = "import importlib.util\nprint('smallcnn importable:', importlib.util.find_spec('smallcnn') is not None)"


def isolated_kernel(folder):
    """A kernelspec "elsewhere" under folder/kernels: this Python, without smallcnn, HOME = folder/home."""
    spec = folder / "kernels" / "elsewhere"
    spec.mkdir(parents=True)
    (folder / "home").mkdir()
    spec.joinpath("kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-c", KERNEL_CODE, "-f", "{connection_file}"], "language": "python",
        "display_name": "elsewhere", "env": {"HOME": str(folder / "home"), "PYTHONPATH": ""}}))
    os.environ["JUPYTER_PATH"] = str(folder)


def main(path):
    path = Path(path).resolve()
    isolated_kernel(path.parent)
    nb = nbformat.read(str(path), as_version=4)
    part2 = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("# Part 2"))
    nb.cells = [c for c in nb.cells[:part2] if c.cell_type == "code"] + [nbformat.v4.new_code_cell(PROBE)]
    error = None
    try:
        NotebookClient(nb, timeout=1200, kernel_name="elsewhere", resources={"metadata": {"path": str(path.parent)}}
                       ).execute()
    except CellExecutionError as exc:
        error = str(exc).strip().splitlines()[-1]
    outputs = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []) if o.output_type == "stream")
    print(json.dumps({"error": error, "outputs": outputs}))


if __name__ == "__main__":
    main(sys.argv[1])
