"""Finding and verifying the raw data files.

Search order for a data set's folder (first hit wins):
1. an explicit ``source`` directory (``--source DIR``): it must hold the files;
2. ``$MESIMP_DATA``;
3. ``<repo>/../shared/data``, where ``<repo>`` is the checkout root (the folder with
   ``setup.cfg``);
4. a download from the official locations into ``<download_dir>`` (only when asked).

A root may hold the files directly or in the data set's subfolder (``mnist/``,
``ud-english-ewt/``). Every file is checked against the SHA-256 in ``KNOWN_SHA256``
(copied from ``shared/data/SHA256SUMS``) unless ``verify=False``.
"""

import gzip
import hashlib
import os
import pathlib
import shutil
import tempfile
import urllib.request

from mesimp_engine.data.errors import DataError, DataNotFound

DATASETS = {
    "mnist": {
        "subdir": "mnist",
        "files": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                  "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
        "url": "https://ossci-datasets.s3.amazonaws.com/mnist/{name}",
        "script": "data_scripts/prepare_mnist.py",
    },
    "ud_ewt": {
        "subdir": "ud-english-ewt",
        "files": ("en_ewt-ud-train.conllu", "en_ewt-ud-dev.conllu", "en_ewt-ud-test.conllu"),
        "url": ("https://raw.githubusercontent.com/UniversalDependencies/UD_English-EWT/"
                "r2.16/{name}"),
        "script": "data_scripts/prepare_ud_ewt.py",
    },
}

# SHA-256 of the files as distributed in shared/data (from its SHA256SUMS)
KNOWN_SHA256 = {
    "t10k-images-idx3-ubyte.gz": "cfeddb84311ecf044fc6a5b0f6ee8a24d265d4e83e388400186eb114082f4209",
    "t10k-labels-idx1-ubyte.gz": "e41c74e484045d39b462a7790a4af51301bd9b0b24f0154798d713ec68c45920",
    "train-images-idx3-ubyte.gz": "db8f937d487057fb14a9f0fbe97f0bc8d311ab41b750d41e1ff37c43b9e55e19",
    "train-labels-idx1-ubyte.gz": "51fc562b6747b666fbf6e84ce29d43c3cb5f9c388c664d43b33f02095313405a",
    "en_ewt-ud-dev.conllu": "531a54ff90d6ab12201c5a50c3e78e6ddac4de69abc4bce5d275d3cd29efe2b6",
    "en_ewt-ud-test.conllu": "e266e515a0a7547657ed3d90d9ba46487d6bd251f27ad4269d4e8a427c8555cd",
    "en_ewt-ud-train.conllu": "3fb78e2b55482c8ee00caa653af436c88c9e5bc9a73ce26e4ae3ddc79d2b7e7b",
}

# MD5 of the decompressed official MNIST files: a gzip re-compressed elsewhere (e.g. a
# download from a mirror) has another SHA-256 but the same content.
MNIST_CONTENT_MD5 = {
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}


def repo_root():
    """The checkout root: the nearest folder above this file holding ``setup.cfg`` (or None)."""
    for folder in pathlib.Path(__file__).resolve().parents:
        if (folder / "setup.cfg").is_file():
            return folder
    return None


def default_roots():
    """Candidate data roots after ``--source``: ``$MESIMP_DATA``, then ``<repo>/../shared/data``."""
    roots = []
    if os.environ.get("MESIMP_DATA"):
        roots.append(pathlib.Path(os.environ["MESIMP_DATA"]))
    root = repo_root()
    if root is not None:
        roots.append(root.parent / "shared" / "data")
    return roots


def dataset_dir(root, dataset):
    """The folder under ``root`` holding all files of ``dataset``, or None."""
    spec = DATASETS[dataset]
    for folder in (pathlib.Path(root) / spec["subdir"], pathlib.Path(root)):
        if all((folder / name).is_file() for name in spec["files"]):
            return folder
    return None


def sha256_of(path):
    """Hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path):
    """Raise DataError unless ``path`` matches its known SHA-256 (for MNIST, or its known
    decompressed MD5)."""
    path = pathlib.Path(path)
    expected = KNOWN_SHA256[path.name]
    actual = sha256_of(path)
    if actual == expected:
        return
    if path.name in MNIST_CONTENT_MD5:
        try:
            content = gzip.decompress(path.read_bytes())
        except (EOFError, OSError, gzip.BadGzipFile):
            content = b""
        if hashlib.md5(content).hexdigest() == MNIST_CONTENT_MD5[path.name]:
            return
    raise DataError(f"SHA-256 mismatch (expected {expected[:16]}..., found {actual[:16]}...): "
                    "corrupt or different file; to use your own copy, prepare the data with "
                    "data_scripts/prepare_*.py --no-verify", path)


def find_raw(dataset, source=None, verify=True, download_dir=None):
    """The folder holding the raw files of ``dataset`` ("mnist" or "ud_ewt").

    source: an explicit folder (no fallback when given). download_dir: where to download when
    no local copy is found (None: never download). Returns a pathlib.Path; raises DataNotFound
    naming the places searched, or DataError for a file that fails verification.
    """
    spec = DATASETS[dataset]
    roots = [pathlib.Path(source)] if source is not None else default_roots()
    for root in roots:
        folder = dataset_dir(root, dataset)
        if folder is not None:
            break
    else:
        names = ", ".join(spec["files"])
        if source is not None:
            raise DataNotFound(f"raw {dataset} files ({names}) not found in {source} "
                               f"or {pathlib.Path(source) / spec['subdir']}")
        if download_dir is None:
            searched = ", ".join(str(r) for r in roots) or "(no candidate folder)"
            raise DataNotFound(f"raw {dataset} files ({names}) not found in: {searched}; "
                               f"run {spec['script']} --source DIR")
        folder = download(dataset, download_dir)
    if verify:
        for name in spec["files"]:
            verify_file(folder / name)
    return folder


def download(dataset, download_dir):
    """Download the raw files of ``dataset`` into ``download_dir/<subdir>``; returns that folder.

    Each file is written to a temporary name and renamed when complete.
    """
    spec = DATASETS[dataset]
    folder = pathlib.Path(download_dir) / spec["subdir"]
    folder.mkdir(parents=True, exist_ok=True)
    for name in spec["files"]:
        target = folder / name
        if target.is_file():
            continue
        url = spec["url"].format(name=name)
        print(f"downloading {url}")
        handle, temp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out:
                with urllib.request.urlopen(url, timeout=60) as response:
                    shutil.copyfileobj(response, out)
            os.replace(temp, target)
        except OSError as error:
            raise DataNotFound(f"download of {url} failed ({error}); get the files by hand and "
                               f"pass --source DIR") from None
        finally:
            if os.path.exists(temp):
                os.unlink(temp)
    return folder
