"""Reader for the IDX format of the MNIST files (gzip-compressed or plain).

IDX layout (big-endian): two zero bytes, one type byte, one byte giving the number of
dimensions d, then d 4-byte sizes, then the payload in row-major order.
"""

import gzip
import zlib

import numpy as np

from mesimp_engine.data.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"

# type byte -> big-endian dtype of the payload
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_bytes(path):
    """The content of ``path``, decompressed when it starts with the gzip magic number.

    Raises DataError (naming the file) for a missing, unreadable, truncated or corrupt file.
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as error:
        raise DataError(f"cannot read file ({error.strerror or error})", path) from None
    if not raw.startswith(GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise DataError("truncated gzip stream (file ends before the end-of-stream marker)",
                        path) from None
    except (gzip.BadGzipFile, zlib.error, OSError) as error:
        raise DataError(f"corrupt gzip stream ({error})", path) from None


def parse_idx(data, path="<bytes>"):
    """Decode IDX bytes into an array of shape given by the header (native byte order).

    Checks the magic number (two zero bytes, a known type byte, at least one dimension),
    that the header is complete and that the payload holds exactly prod(dims) items.
    """
    if len(data) < 4:
        raise DataError(f"too short for an IDX header ({len(data)} bytes)", path)
    if data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES or data[3] == 0:
        raise DataError(f"wrong IDX magic number 0x{data[:4].hex()} "
                        "(expected 0x0000TTDD: type byte TT in 08,09,0B-0E, DD >= 1 dimensions)",
                        path)
    dtype = IDX_DTYPES[data[2]]
    n_dims = data[3]
    header_len = 4 + 4 * n_dims
    if len(data) < header_len:
        raise DataError(f"truncated IDX header: {n_dims} dimensions need {header_len} bytes, "
                        f"file has {len(data)}", path)
    dims = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=n_dims, offset=4))
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header_len
    if actual != expected:
        kind = "short" if actual < expected else "long"
        raise DataError(f"IDX payload too {kind}: dimensions {dims} of {dtype.name} need "
                        f"{expected} bytes after the header, found {actual}", path)
    array = np.frombuffer(data, dtype=dtype, offset=header_len).reshape(dims)
    return array.astype(dtype.newbyteorder("="))


def read_idx(path):
    """Read an IDX file (gzip or plain) at ``path``; returns an array shaped by its header."""
    return parse_idx(read_bytes(path), path)


def encode_idx(array):
    """The IDX bytes of an array (inverse of parse_idx; used to build test inputs)."""
    array = np.asarray(array)
    for code, dtype in IDX_DTYPES.items():
        if dtype.kind == array.dtype.kind and dtype.itemsize == array.dtype.itemsize:
            header = bytes([0, 0, code, array.ndim])
            header += np.asarray(array.shape, dtype=">u4").tobytes()
            return header + array.astype(dtype).tobytes()
    raise ValueError(f"no IDX type for dtype {array.dtype}")
