"""CoNLL-U reader: skipped non-word lines, tree checks, and the real EWT counts."""

import numpy as np
import pytest

from mesimp_engine.data.conllu import check_tree, parse_conllu, read_conllu
from mesimp_engine.data.errors import DataError
from tests.data.conftest import FIXTURES

EWT_COUNTS = {"train": (12544, 204577), "dev": (2001, 25147), "test": (2077, 25094)}


def test_multiword_tokens_and_empty_nodes_skipped():
    (sentence,) = read_conllu(FIXTURES / "valid_multiword.conllu")
    assert sentence.forms == ["I", "wo", "n't", "go", "."]
    np.testing.assert_array_equal(sentence.heads, [4, 4, 4, 0, 4])
    assert sentence.deprels == ["nsubj", "aux", "advmod", "root", "punct"]
    assert sentence.xpos == ["PRP", "MD", "RB", "VB", "."]
    assert sentence.sent_id == "mwt"
    np.testing.assert_array_equal(sentence.lines, [3, 5, 6, 7, 9])


def row(i, form, head, rel="dep"):
    return "\t".join([str(i), form, form, "X", "X", "_", str(head), rel, "_", "_"])


def test_sentences_split_on_blank_lines_without_final_blank():
    text = "\n".join([row(1, "a", 0), "", "", row(1, "b", 2), row(2, "c", 0)])
    sentences = parse_conllu(text, "t.conllu")
    assert [s.forms for s in sentences] == [["a"], ["b", "c"]]


def test_crlf_line_endings_accepted():
    text = row(1, "a", 0) + "\r\n" + row(2, "b", 1) + "\r\n\r\n"
    (sentence,) = parse_conllu(text)
    assert sentence.deprels == ["dep", "dep"]


@pytest.mark.parametrize("lines, line, words", [
    ([row(1, "a", 0), row(3, "b", 1)], 2, "word ID '3' out of sequence (expected 2)"),
    ([row(1, "a", 0), row(2, "b", 2)], 2, "word 2 is its own head"),
    ([row(1, "a", 2), row(2, "b", 1)], 1, "no root"),
    (["1-x\t" + "\t".join(["_"] * 9), row(1, "a", 0)], 1, "bad ID '1-x'"),
    ([row(1, "a", 0).replace("\tdep\t", "\t\t")], 1, "word 1 has no DEPREL"),
    ([row(1, "a", 0).replace("\t0\t", "\t-1\t")], 1, "HEAD '-1' of word 1"),
    (["# only a comment"], None, "no sentences"),
])
def test_malformed_inputs(lines, line, words):
    with pytest.raises(DataError) as caught:
        parse_conllu("\n".join(lines) + "\n", "t.conllu")
    assert caught.value.line == line
    assert words in str(caught.value)


def test_non_utf8_named_with_line(tmp_path):
    path = tmp_path / "latin1.conllu"
    path.write_bytes((row(1, "a", 0) + "\n" + row(2, "caf\xe9", 1) + "\n").encode("latin-1"))
    with pytest.raises(DataError, match=r"latin1.conllu:2: not UTF-8"):
        read_conllu(path)


def test_long_cycle_reported_with_chain():
    with pytest.raises(DataError, match=r"cycle in heads: 2 -> 3 -> 4 -> 2"):
        check_tree(np.array([0, 3, 4, 2]))


@pytest.mark.parametrize("split", sorted(EWT_COUNTS))
def test_real_ewt_counts(ewt_dir, ewt_train, split):
    sentences = (ewt_train if split == "train"
                 else read_conllu(ewt_dir / f"en_ewt-ud-{split}.conllu"))
    assert (len(sentences), sum(len(s) for s in sentences)) == EWT_COUNTS[split]
    assert all(s.sent_id for s in sentences)


def test_byte_order_mark_ignored(tmp_path):
    path = tmp_path / "bom.conllu"
    path.write_bytes(b"\xef\xbb\xbf# sent_id = a\n" + (row(1, "a", 0) + "\n").encode())
    (sentence,) = read_conllu(path)
    assert sentence.sent_id == "a" and sentence.forms == ["a"]


def is_tree_reference(heads):
    """Brute force: one root, and every word reaches ROOT within n steps."""
    n = len(heads)
    if (heads == 0).sum() != 1:
        return False
    for word in range(1, n + 1):
        node = word
        for _ in range(n):
            if node == 0:
                break
            node = heads[node - 1]
        if node != 0:
            return False
    return True


def test_check_tree_agrees_with_brute_force():
    rng = np.random.default_rng(1)
    verdicts = []
    for _ in range(3000):
        n = int(rng.integers(1, 9))
        heads = rng.integers(0, n + 1, n)
        heads[heads == np.arange(1, n + 1)] = 0  # self-heads have their own message
        try:
            check_tree(heads)
            accepted = True
        except DataError:
            accepted = False
        assert accepted == is_tree_reference(heads), heads
        verdicts.append(accepted)
    assert 0.05 < np.mean(verdicts) < 0.95
