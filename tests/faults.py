"""Faults injected into training for the tests: Ctrl-C at one training batch, NaN images from one on;
default_sigint for the tests that press Ctrl-C on a subprocess.

Each is a replacement for TensorLoader.__iter__ that counts the training batches (the shuffled loader's;
validation and test do not shuffle) across every pass.
"""

import signal

from smallcnn.core.data import TensorLoader

REAL_ITER = TensorLoader.__iter__


def training_batches(action):
    """An __iter__ that yields action(n, images) instead of the images of the n-th training batch."""
    count = {"n": 0}

    def batches(loader):
        for images, labels in REAL_ITER(loader):
            if loader.shuffle:
                count["n"] += 1
                images = action(count["n"], images)
            yield images, labels

    return batches


def interrupt_at(batch: int):
    """Ctrl-C when the training batch numbered `batch` (from 1) comes."""
    def action(n, images):
        if n == batch:
            raise KeyboardInterrupt
        return images

    return training_batches(action)


def poison_after(batch: int):
    """Every training image NaN after the first `batch` training batches: the loss turns NaN."""
    return training_batches(lambda n, images: images * float("nan") if n > batch else images)


def default_sigint():
    """For Popen(preexec_fn=...): Ctrl-C as a terminal delivers it. A shell's background job (`cmd &`,
    nohup) ignores SIGINT and its children inherit that, so a Ctrl-C test run from one would see nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
