"""MNIST: the raw IDX files, checked, and the papers' split.

Split: the first 5,000 training images are the development set, the other 55,000 the
training set, the 10,000 t10k images the test set.
"""

import numpy as np

from mesimp_engine.data.errors import DataError
from mesimp_engine.data.idx import read_idx

N_DEV = 5000
IMAGE_SHAPE = (28, 28)
N_CLASSES = 10


def read_images_labels(images_path, labels_path):
    """Images uint8 (N, 784) and labels uint8 (N,) from a pair of IDX files, checked:
    images are ubyte (N, 28, 28), labels ubyte (N,) in 0..9, the same N."""
    images = read_idx(images_path)
    labels = read_idx(labels_path)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE:
        raise DataError(f"expected unsigned-byte images of shape (N, 28, 28), found "
                        f"{images.dtype} {images.shape}", images_path)
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise DataError(f"expected unsigned-byte labels of shape (N,), found "
                        f"{labels.dtype} {labels.shape}", labels_path)
    if len(labels) != len(images):
        raise DataError(f"{len(labels)} labels for {len(images)} images in {images_path}",
                        labels_path)
    if len(labels) and labels.max() >= N_CLASSES:
        raise DataError(f"label {int(labels.max())} outside 0..9", labels_path)
    return images.reshape(len(images), -1), labels


def read_mnist_raw(folder):
    """The papers' splits as uint8 arrays: dict(train=(X, y), dev=(X, y), test=(X, y)) with
    X (N, 784) uint8 and y (N,) uint8; N = 55,000 / 5,000 / 10,000 for the real files."""
    train_x, train_y = read_images_labels(folder / "train-images-idx3-ubyte.gz",
                                          folder / "train-labels-idx1-ubyte.gz")
    test_x, test_y = read_images_labels(folder / "t10k-images-idx3-ubyte.gz",
                                        folder / "t10k-labels-idx1-ubyte.gz")
    if len(train_x) <= N_DEV:
        raise DataError(f"only {len(train_x)} training images; the split needs more than {N_DEV}",
                        folder / "train-images-idx3-ubyte.gz")
    return {
        "train": (train_x[N_DEV:], train_y[N_DEV:]),
        "dev": (train_x[:N_DEV], train_y[:N_DEV]),
        "test": (test_x, test_y),
    }


MEAN, STD = 0.1307, 0.3081
"""The MNIST training pixels' mean and standard deviation (in [0, 1]) that torchvision's
MNIST example standardises with, and with it the GSM authors' ``dataset.py``."""


def to_float(images, labels, dtype=np.float32, standardize=False):
    """(images of shape (N, 784) as ``dtype``, int64 labels (N,)) from uint8 arrays. Pixels
    are divided by 255 in ``dtype`` (the authors' C# code: in double), into [0, 1]; with
    ``standardize``, then (x - MEAN) / STD, as the GSM authors' data (background -0.42)."""
    dtype = np.dtype(dtype)
    x = np.asarray(images, dtype=dtype) / dtype.type(255.0)
    if standardize:
        x = (x - dtype.type(MEAN)) / dtype.type(STD)
    return x, np.asarray(labels, dtype=np.int64)
