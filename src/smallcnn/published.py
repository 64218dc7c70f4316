"""The published figures smallcnn compares against (published.json), each with its citation: read, never typed in."""

import json
from pathlib import Path

PUBLISHED_FILE = Path(__file__).with_name("published.json")


def load_published() -> dict:
    """published.json: Table 3 of Xiao et al. 2017 and the CIFAR-100 reference results, each with its citation."""
    return json.loads(PUBLISHED_FILE.read_text())
