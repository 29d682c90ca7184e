"""Finding raw files (source, $MESIMP_DATA, beside the checkout) and verifying them."""

import gzip
import shutil

import pytest

from mesimp_engine.data import locate
from mesimp_engine.data.errors import DataError, DataNotFound
from mesimp_engine.data.locate import (DATASETS, KNOWN_SHA256, default_roots, find_raw,
                                       repo_root, sha256_of, verify_file)

SHA256SUMS = """\
cfeddb84311ecf044fc6a5b0f6ee8a24d265d4e83e388400186eb114082f4209  mnist/t10k-images-idx3-ubyte.gz
e41c74e484045d39b462a7790a4af51301bd9b0b24f0154798d713ec68c45920  mnist/t10k-labels-idx1-ubyte.gz
db8f937d487057fb14a9f0fbe97f0bc8d311ab41b750d41e1ff37c43b9e55e19  mnist/train-images-idx3-ubyte.gz
51fc562b6747b666fbf6e84ce29d43c3cb5f9c388c664d43b33f02095313405a  mnist/train-labels-idx1-ubyte.gz
531a54ff90d6ab12201c5a50c3e78e6ddac4de69abc4bce5d275d3cd29efe2b6  ud-english-ewt/en_ewt-ud-dev.conllu
e266e515a0a7547657ed3d90d9ba46487d6bd251f27ad4269d4e8a427c8555cd  ud-english-ewt/en_ewt-ud-test.conllu
3fb78e2b55482c8ee00caa653af436c88c9e5bc9a73ce26e4ae3ddc79d2b7e7b  ud-english-ewt/en_ewt-ud-train.conllu
"""


def test_hash_table_matches_shared_sha256sums(shared_data):
    listed = {line.split()[1].split("/")[1]: line.split()[0]
              for line in (shared_data / "SHA256SUMS").read_text().splitlines() if line}
    assert listed == KNOWN_SHA256
    expected = {line.split()[1].split("/")[1]: line.split()[0]
                for line in SHA256SUMS.splitlines()}
    assert expected == KNOWN_SHA256


def test_real_files_verify(shared_data):
    for dataset in DATASETS:
        folder = find_raw(dataset, source=shared_data)
        assert folder == shared_data / DATASETS[dataset]["subdir"]


def test_repo_root_and_default_beside_checkout(monkeypatch):
    monkeypatch.delenv("MESIMP_DATA", raising=False)
    root = repo_root()
    assert (root / "setup.cfg").is_file() and (root / "mesimp_engine").is_dir()
    assert default_roots() == [root.parent / "shared" / "data"]


def link_dataset(target, source_folder, dataset):
    target.mkdir(parents=True)
    for name in DATASETS[dataset]["files"]:
        (target / name).symlink_to(source_folder / name)


def test_env_comes_before_checkout_and_flat_folder_accepted(monkeypatch, tmp_path, mnist_dir):
    link_dataset(tmp_path / "flat", mnist_dir, "mnist")
    monkeypatch.setenv("MESIMP_DATA", str(tmp_path / "flat"))
    assert default_roots()[0] == tmp_path / "flat"
    assert find_raw("mnist") == tmp_path / "flat"


def test_nothing_found_names_the_script(monkeypatch, tmp_path):
    monkeypatch.setenv("MESIMP_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(locate, "repo_root", lambda: tmp_path / "checkout")
    with pytest.raises(DataNotFound) as caught:
        find_raw("ud_ewt")
    message = str(caught.value)
    assert "run data_scripts/prepare_ud_ewt.py" in message and str(tmp_path / "empty") in message
    assert "\n" not in message


def test_explicit_source_has_no_fallback(tmp_path, shared_data):
    with pytest.raises(DataNotFound, match="not found in"):
        find_raw("mnist", source=tmp_path)


def test_changed_file_fails_unless_no_verify(tmp_path, ewt_dir):
    folder = tmp_path / "ewt"
    link_dataset(folder, ewt_dir, "ud_ewt")
    (folder / "en_ewt-ud-dev.conllu").unlink()
    text = (ewt_dir / "en_ewt-ud-dev.conllu").read_text(encoding="utf-8")
    (folder / "en_ewt-ud-dev.conllu").write_text("# a newer release\n" + text, encoding="utf-8")
    with pytest.raises(DataError, match=r"en_ewt-ud-dev.conllu: SHA-256 mismatch"):
        find_raw("ud_ewt", source=folder)
    assert find_raw("ud_ewt", source=folder, verify=False) == folder


def test_recompressed_mnist_accepted_by_content(tmp_path, mnist_dir):
    name = "t10k-labels-idx1-ubyte.gz"
    content = gzip.decompress((mnist_dir / name).read_bytes())
    path = tmp_path / name
    path.write_bytes(gzip.compress(content, compresslevel=1, mtime=12345))
    assert sha256_of(path) != KNOWN_SHA256[name]
    verify_file(path)
    path.write_bytes(gzip.compress(content[:-1] + b"\x00", mtime=0))
    with pytest.raises(DataError, match="SHA-256 mismatch"):
        verify_file(path)


def test_copy_keeps_hash(tmp_path, ewt_dir):
    shutil.copy(ewt_dir / "en_ewt-ud-test.conllu", tmp_path)
    verify_file(tmp_path / "en_ewt-ud-test.conllu")


def test_download_path_with_a_local_url(monkeypatch, tmp_path, mnist_dir):
    # the download code run end to end against file:// addresses (tests never need a network)
    monkeypatch.setenv("MESIMP_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(locate, "repo_root", lambda: tmp_path / "checkout")
    spec = dict(DATASETS["mnist"], url=mnist_dir.as_uri() + "/{name}")
    monkeypatch.setitem(DATASETS, "mnist", spec)
    folder = find_raw("mnist", download_dir=tmp_path / "raw")
    assert folder == tmp_path / "raw" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(spec["files"])
    spec["url"] = (tmp_path / "missing").as_uri() + "/{name}"
    with pytest.raises(DataNotFound, match="download of .* failed"):
        find_raw("mnist", download_dir=tmp_path / "raw2")
    assert [p.name for p in (tmp_path / "raw2" / "mnist").iterdir()] == []
