"""The core's data: the dataset as tensors (exactly what its transform gives), the seeded split, the
in-memory loader and its augmentation."""

import pytest
import torch
import torch.nn.functional as F
from torch.utils.data import Subset
from torchvision import transforms

from smallcnn.core.data import TensorLoader, augment, normalise, split_train_val, to_tensors


class Stored:
    """A stand-in torchvision dataset: uint8 images as stored, labels, and the starter's transform."""

    def __init__(self, data, targets, mean=(0.5,), std=(0.5,)):
        self.data, self.targets = data, targets
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize(mean, std)])
        self.classes = [str(c) for c in range(10)]

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):  # what torchvision does: the image through PIL's array view and the transform
        return self.transform(self.data[i].numpy()), self.targets[i]


def grey(n=50, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return Stored(torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=generator),
                  (torch.arange(n) % 10).tolist())


def colour(n=40):
    generator = torch.Generator().manual_seed(1)
    return Stored(torch.randint(0, 256, (n, 32, 32, 3), dtype=torch.uint8, generator=generator),
                  (torch.arange(n) % 10).tolist(), (0.5071, 0.4867, 0.4408), (0.2675, 0.2565, 0.2761))


# --- the dataset as tensors --------------------------------------------------------------------------

@pytest.mark.parametrize("make", [grey, colour])
def test_to_tensors_is_the_transform_image_by_image(make):
    dataset = make()
    images, labels = to_tensors(dataset)
    expected = torch.stack([dataset[i][0] for i in range(len(dataset))])
    torch.testing.assert_close(images, expected, rtol=0, atol=1e-6)
    assert labels.tolist() == dataset.targets and labels.dtype == torch.long


def test_to_tensors_follows_random_split_parts_and_subsets_of_them():
    dataset = grey(60)
    train, val = split_train_val(dataset, 0.25, seed=3)
    part = Subset(train, [5, 0, 7])
    images, labels = to_tensors(part)
    expected = torch.stack([part[i][0] for i in range(3)])
    torch.testing.assert_close(images, expected, rtol=0, atol=1e-6)
    assert labels.tolist() == [part[i][1] for i in range(3)]
    assert len(to_tensors(val)[1]) == 15


def test_to_tensors_on_real_fashion_mnist_equals_the_starters_transform(fashion):
    images, labels = to_tensors(fashion.test)
    some = range(0, 10000, 997)
    expected = torch.stack([fashion.test[i][0] for i in some])
    torch.testing.assert_close(images[list(some)], expected, rtol=0, atol=1e-6)
    assert images.shape == (10000, 1, 28, 28) and images.min() == -1 and images.max() == 1


def test_a_transform_with_more_than_to_tensor_and_normalize_is_refused():
    extra = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,)),
                                transforms.RandomHorizontalFlip()])
    with pytest.raises(ValueError, match="ToTensor then Normalize"):
        normalise(torch.zeros(1, 1, 2, 2, dtype=torch.uint8), extra)


def test_the_split_is_seeded_and_disjoint():
    dataset = grey(100)
    train, val = split_train_val(dataset, 0.1, seed=42)
    again, _ = split_train_val(dataset, 0.1, seed=42)
    other, _ = split_train_val(dataset, 0.1, seed=43)
    assert (len(train), len(val)) == (90, 10)
    assert train.indices == again.indices and train.indices != other.indices
    assert set(train.indices).isdisjoint(val.indices)


# --- the loader ----------------------------------------------------------------------------------------

def test_the_loader_gives_every_image_once_per_pass_in_a_new_seeded_order():
    dataset = grey(50)
    loader = TensorLoader(dataset, 16, "cpu", shuffle=True, seed=5)
    assert len(loader) == 4
    passes = [[(x, y) for x, y in loader] for _ in range(2)]
    for batches in passes:
        assert [len(y) for _, y in batches] == [16, 16, 16, 2]
        assert sorted(torch.cat([y for _, y in batches]).tolist()) == sorted(dataset.targets)
    first, second = (torch.cat([x for x, _ in batches]) for batches in passes)
    assert not torch.equal(first, second)  # a new order each pass
    replay = TensorLoader(dataset, 16, "cpu", shuffle=True, seed=5)
    assert torch.equal(torch.cat([x for x, _ in replay]), first)  # the same seed, the same order


def test_each_image_keeps_its_label_in_every_batch():
    dataset = grey(30)
    images, _ = to_tensors(dataset)
    for x, y in TensorLoader(dataset, 7, "cpu", shuffle=True, seed=1):
        for image, label in zip(x, y):
            index = next(i for i in range(30) if torch.equal(images[i], image))
            assert dataset.targets[index] == label


def test_without_shuffle_the_loader_keeps_the_dataset_order():
    dataset = grey(25)
    loader = TensorLoader(dataset, 10, "cpu")
    assert torch.cat([y for _, y in loader]).tolist() == dataset.targets
    assert loader.images.is_contiguous(memory_format=torch.channels_last)


def test_the_loader_augments_each_batch_from_its_generator():
    dataset = colour(40)
    plain = torch.cat([x for x, _ in TensorLoader(dataset, 8, "cpu", shuffle=True, seed=2)])
    crops = torch.cat([x for x, _ in TensorLoader(dataset, 8, "cpu", shuffle=True, augment="crop-flip", seed=2)])
    again = torch.cat([x for x, _ in TensorLoader(dataset, 8, "cpu", shuffle=True, augment="crop-flip", seed=2)])
    assert torch.equal(crops, again) and not torch.equal(crops, plain)


# --- augmentation -----------------------------------------------------------------------------------------

def source_of(out, original, pad=4):
    """(dy, dx, flipped) of the window of the reflect-padded original that `out` is, or None."""
    _, h, w = original.shape
    padded = F.pad(original[None], (pad,) * 4, mode="reflect")[0]
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            window = padded[:, dy:dy + h, dx:dx + w]
            if torch.equal(out, window):
                return dy, dx, False
            if torch.equal(out, window.flip(-1)):
                return dy, dx, True
    return None


def test_none_is_the_identity_and_an_unknown_kind_is_refused():
    images = torch.randn(4, 1, 28, 28)
    assert torch.equal(augment(images, "none", torch.Generator().manual_seed(0)), images)
    with pytest.raises(ValueError, match="unknown augmentation 'rotate'"):
        augment(images, "rotate", torch.Generator())


def test_crop_flip_keeps_shapes_and_each_image_stays_with_its_label():
    torch.manual_seed(0)
    images = torch.randn(200, 3, 32, 32)
    out = augment(images, "crop-flip", torch.Generator().manual_seed(1))
    assert out.shape == images.shape and out.dtype == images.dtype
    # Image i of the output is a window (maybe mirrored) of image i of the input: the labels still match.
    sources = [source_of(o, i) for o, i in zip(out, images)]
    assert None not in sources
    offsets = {s[:2] for s in sources}
    # The offsets span the whole -4..+4 range both ways, and about half the images are mirrored.
    assert {dy for dy, _ in offsets} == set(range(9)) and {dx for _, dx in offsets} == set(range(9))
    assert 70 < sum(s[2] for s in sources) < 130


def test_crop_flip_actually_changes_the_images():
    images = torch.randn(64, 3, 32, 32)
    out = augment(images, "crop-flip", torch.Generator().manual_seed(0))
    changed = sum(not torch.equal(o, i) for o, i in zip(out, images))
    assert changed >= 56  # an image stays as it was only for the centre crop without a flip (1 in 162)


def test_crop_uses_reflect_padding_so_no_zero_border_appears():
    images = torch.rand(32, 3, 32, 32) + 1.0
    assert (augment(images, "crop-flip", torch.Generator().manual_seed(0)) >= 1.0).all()


def test_flip_mirrors_about_half_the_batch_and_keeps_the_rest():
    images = torch.randn(1000, 1, 28, 28)
    out = augment(images, "flip", torch.Generator().manual_seed(0))
    mirrored = [torch.equal(o, i.flip(-1)) for o, i in zip(out, images)]
    unchanged = [torch.equal(o, i) for o, i in zip(out, images)]
    assert all(m != u for m, u in zip(mirrored, unchanged))
    assert 430 < sum(mirrored) < 570


@pytest.mark.parametrize("kind", ["flip", "crop-flip"])
def test_augmentation_is_reproducible_from_the_generator_state(kind):
    images = torch.randn(32, 3, 16, 16)
    generator = torch.Generator().manual_seed(3)
    torch.rand(5, generator=generator)  # not at the start of the stream
    saved = generator.get_state()
    first = augment(images, kind, generator)
    again = torch.Generator()
    again.set_state(saved)
    assert torch.equal(augment(images, kind, again), first)
    # The generator moved on: the next batch draws new crops and flips; another seed draws others.
    assert not torch.equal(augment(images, kind, generator), first)
    assert not torch.equal(augment(images, kind, torch.Generator().manual_seed(4)), first)
