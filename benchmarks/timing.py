"""What every benchmark here shares: timing one call, its peak memory, and a description of the machine.

Imports only the standard library and torch (plus the versions of torchvision and numpy, read from the
installed packages), so the benchmark scripts can import it without importing each other.
"""

import datetime
import math
import os
import platform
import re
import statistics
import time
from importlib import metadata
from pathlib import Path

import torch


def rss_bytes(field):
    """A resident-memory counter of this process from /proc/self/status (Linux), in bytes; 0 elsewhere."""
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return 0
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else 0


def reset_peak_memory():
    """Reset VmHWM (peak RSS, the counter behind getrusage's ru_maxrss) to the current RSS (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # not Linux, or not allowed: the peak is then the process's peak so far


def measure(fn):
    """(seconds, peak resident-memory growth in bytes) of one call of fn."""
    reset_peak_memory()
    start_rss = rss_bytes("VmRSS")
    start = time.perf_counter()
    fn()
    seconds = time.perf_counter() - start
    return seconds, max(0, rss_bytes("VmHWM") - start_rss)


def median_ratio(numerators, denominators):
    """The median of ratios paired repetition by repetition: both sides of each ratio saw the same load.

    Taken on a log scale, so that for an even count the two middle ratios are averaged geometrically:
    the median of a/b is then exactly 1 / the median of b/a, and one repetition that a burst of load
    made 10x slower cannot pull a two-repetition median far off (an arithmetic mean would).
    """
    return math.exp(statistics.median(math.log(a / b) for a, b in zip(numerators, denominators, strict=True)))


def mean_sd(values):
    """(mean, sample standard deviation); the deviation is None for fewer than two values."""
    values = list(values)
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else None)


def cpu_model():
    try:
        models = re.findall(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.MULTILINE)
    except OSError:
        models = []
    return models[0].strip() if models else (platform.processor() or platform.machine())


def version(package):
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions():
    return {"python": platform.python_version(), "torch": torch.__version__, "torchvision": version("torchvision"),
            "numpy": version("numpy")}


def machine_lines():
    """Two lines: the CPU, its cores and torch's thread count; the library versions and today's date."""
    return [f"machine: {cpu_model()}, {os.cpu_count()} cores; torch uses {torch.get_num_threads()} threads "
            f"(torch.get_num_threads())",
            "versions: " + ", ".join(f"{name} {v}" for name, v in versions().items())
            + f"; {datetime.date.today().isoformat()}"]


def load_line():
    return "load average (1, 5, 15 min): " + " ".join(f"{v:.2f}" for v in os.getloadavg())
