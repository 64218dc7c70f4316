import torch

from smallcnn.augment import augment_batch, random_crop, random_flip


def batch():
    return torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)


def test_crop_keeps_shape_and_cuts_a_window_of_the_reflect_padded_image():
    images = torch.randn(64, 3, 32, 32)
    cropped = random_crop(images, 4, torch.Generator().manual_seed(0))
    assert cropped.shape == images.shape
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4), mode="reflect")
    for i in range(8):
        windows = [padded[i, :, y:y + 32, x:x + 32] for y in range(9) for x in range(9)]
        assert any(torch.equal(cropped[i], w) for w in windows)
    # Not every image may keep the centre window: the offsets really are random.
    assert not torch.equal(cropped, images)


def test_flip_mirrors_about_half_the_batch_and_keeps_the_rest():
    images = torch.randn(1000, 1, 28, 28)
    flipped = random_flip(images, torch.Generator().manual_seed(0))
    mirrored = [torch.equal(f, i.flip(-1)) for f, i in zip(flipped, images)]
    unchanged = [torch.equal(f, i) for f, i in zip(flipped, images)]
    assert all(m or u for m, u in zip(mirrored, unchanged))
    assert 400 < sum(mirrored) < 600


def test_augmentation_is_reproducible_from_the_seed():
    a = augment_batch(batch(), "crop-flip", torch.Generator().manual_seed(3), padding=2)
    b = augment_batch(batch(), "crop-flip", torch.Generator().manual_seed(3), padding=2)
    c = augment_batch(batch(), "crop-flip", torch.Generator().manual_seed(4), padding=2)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_none_is_the_identity():
    assert torch.equal(augment_batch(batch(), "none", torch.Generator()), batch())
