"""IDX reader: round trips of every type, gzip and plain, and the real MNIST headers."""

import gzip
import hashlib

import numpy as np
import pytest

from mesimp_engine.data.errors import DataError
from mesimp_engine.data.idx import encode_idx, parse_idx, read_bytes, read_idx
from mesimp_engine.data.locate import MNIST_CONTENT_MD5


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
@pytest.mark.parametrize("compress", [False, True])
def test_round_trip(tmp_path, dtype, compress):
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 5, 2)) * 50).astype(dtype)
    data = encode_idx(array)
    path = tmp_path / ("a.idx.gz" if compress else "a.idx")
    path.write_bytes(gzip.compress(data) if compress else data)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.shape == (3, 5, 2)
    np.testing.assert_array_equal(back, array)


def test_big_endian_header_and_payload():
    data = bytes([0, 0, 0x0B, 1, 0, 0, 0, 2]) + bytes([1, 2, 0xFF, 0xFE])
    np.testing.assert_array_equal(parse_idx(data), np.array([258, -2], dtype=np.int16))


def test_long_payload_rejected():
    data = encode_idx(np.zeros((2, 3), dtype=np.uint8)) + b"\x00"
    with pytest.raises(DataError, match="IDX payload too long"):
        parse_idx(data, "x.idx")


def test_truncated_header_rejected():
    with pytest.raises(DataError, match="truncated IDX header"):
        parse_idx(bytes([0, 0, 8, 3, 0, 0, 0, 1]), "x.idx")


def test_corrupt_gzip_rejected(tmp_path):
    data = bytearray(gzip.compress(encode_idx(np.arange(100, dtype=np.uint8)), mtime=0))
    data[-8] ^= 0xFF  # break the CRC-32
    path = tmp_path / "bad.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=f"^{path}: corrupt gzip stream"):
        read_idx(path)


def test_missing_file_named(tmp_path):
    with pytest.raises(DataError, match="nothing.idx: cannot read file"):
        read_idx(tmp_path / "nothing.idx")


def test_real_mnist_headers_and_content(mnist_dir):
    expected = {"train-images-idx3-ubyte.gz": (60000, 28, 28),
                "train-labels-idx1-ubyte.gz": (60000,),
                "t10k-images-idx3-ubyte.gz": (10000, 28, 28),
                "t10k-labels-idx1-ubyte.gz": (10000,)}
    for name, shape in expected.items():
        data = read_bytes(mnist_dir / name)
        array = parse_idx(data, name)
        assert array.shape == shape and array.dtype == np.uint8
        # decompressed bytes equal the official release
        assert hashlib.md5(data).hexdigest() == MNIST_CONTENT_MD5[name]
