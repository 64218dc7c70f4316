"""Child processes as Linux's /proc shows them: for tests that stop a run and check nothing is left behind."""

from pathlib import Path


def children(pid):
    """The process ids of a process's children (Linux)."""
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()]


def running(pid):
    """False once the process has ended (an unreaped zombie has ended too)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
