"""MNIST split and scaling on the real files."""

import numpy as np
import pytest

from mesimp_engine.data.mnist import read_mnist_raw, to_float


def test_papers_split_on_real_files(mnist_dir, mnist_train_raw):
    splits = read_mnist_raw(mnist_dir)
    assert {k: len(v[0]) for k, v in splits.items()} == {"train": 55000, "dev": 5000,
                                                         "test": 10000}
    images, labels = mnist_train_raw
    images = images.reshape(60000, 784)
    np.testing.assert_array_equal(splits["dev"][0], images[:5000])
    np.testing.assert_array_equal(splits["train"][0], images[5000:])
    np.testing.assert_array_equal(splits["dev"][1], labels[:5000])
    # the well-known first labels of the training file
    np.testing.assert_array_equal(labels[:8], [5, 0, 4, 1, 9, 2, 1, 3])
    assert np.bincount(splits["test"][1], minlength=10).min() > 800


def test_to_float_scales_to_unit_interval():
    X, y = to_float(np.array([[0, 128, 255]], dtype=np.uint8), np.array([7], dtype=np.uint8))
    assert X.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_allclose(X, [[0.0, 128 / 255, 1.0]], rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_standardized_pixels_are_torchvisions_normalize(dtype):
    """``standardize``: (x / 255 - 0.1307) / 0.3081, what torchvision's ``ToTensor`` then
    ``Normalize((0.1307,), (0.3081,))`` give (the GSM authors' data), in the asked dtype."""
    X, _ = to_float(np.array([[0, 128, 255]], dtype=np.uint8), np.array([7], dtype=np.uint8), dtype, standardize=True)
    assert X.dtype == dtype
    np.testing.assert_allclose(X, [[(v / 255 - 0.1307) / 0.3081 for v in (0, 128, 255)]], rtol=1e-6)


def write_pair(folder, images, labels):
    from mesimp_engine.data.idx import encode_idx
    (folder / "img.idx").write_bytes(encode_idx(images))
    (folder / "lab.idx").write_bytes(encode_idx(labels))
    return folder / "img.idx", folder / "lab.idx"


def test_inconsistent_pairs_rejected(tmp_path):
    import pytest
    from mesimp_engine.data.errors import DataError
    from mesimp_engine.data.mnist import read_images_labels
    good_images = np.zeros((3, 28, 28), dtype=np.uint8)
    cases = [
        (good_images, np.zeros(2, dtype=np.uint8), "lab.idx: 2 labels for 3 images"),
        (good_images, np.array([0, 10, 1], dtype=np.uint8), "lab.idx: label 10 outside 0..9"),
        (np.zeros((3, 28, 27), dtype=np.uint8), np.zeros(3, dtype=np.uint8),
         "img.idx: expected unsigned-byte images of shape (N, 28, 28)"),
        (good_images, np.zeros(3, dtype=np.int32), "lab.idx: expected unsigned-byte labels"),
    ]
    for images, labels, message in cases:
        paths = write_pair(tmp_path, images, labels)
        with pytest.raises(DataError) as caught:
            read_images_labels(*paths)
        assert message in str(caught.value)
