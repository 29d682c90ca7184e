"""Reader for CoNLL-U treebanks (Universal Dependencies).

Each word line has ten tab-separated columns:
ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC. Comment lines start with ``#``;
a blank line ends a sentence. Lines whose ID is a range (``3-4``, multi-word tokens) or a
decimal (``8.1``, empty nodes of enhanced graphs) are not words and are skipped.
The basic tree is checked: word IDs run 1..n, every HEAD is an integer in 0..n, exactly one
word has HEAD 0, and following heads from any word reaches 0 (no cycle).
"""

from dataclasses import dataclass, field

import numpy as np

from mesimp_engine.data.errors import DataError

N_COLUMNS = 10


@dataclass
class Sentence:
    """One sentence of n words (index i here is word ID i + 1).

    forms, upos, xpos, deprels: lists of n strings.
    heads: int64 array (n,), HEAD of each word, 0 = the root.
    lines: int64 array (n,), the line number of each word in ``path`` (for messages).
    """

    forms: list
    upos: list
    xpos: list
    heads: np.ndarray
    deprels: list
    path: str = "<string>"
    lines: np.ndarray = field(default=None)
    sent_id: str = ""

    def __len__(self):
        return len(self.forms)


def read_conllu(path):
    """All sentences of the CoNLL-U file at ``path`` (list of Sentence).

    Raises DataError naming the file and line for: an unreadable or non-UTF-8 file, an empty
    file (no sentences), a line without ten columns, a bad ID, a non-numeric or out-of-range
    HEAD, an empty DEPREL, zero or two roots, and a cycle.
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as error:
        raise DataError(f"cannot read file ({error.strerror or error})", path) from None
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark, if any, is dropped
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise DataError(f"not UTF-8 text ({error.reason})", path, line) from None
    return parse_conllu(text, str(path))


def parse_conllu(text, path="<string>"):
    """The sentences of CoNLL-U ``text``; ``path`` names it in error messages."""
    sentences = []
    rows = []
    sent_id = ""
    line_no = 0
    for line_no, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            if rows:
                sentences.append(_finish_sentence(rows, path, sent_id))
                rows, sent_id = [], ""
            continue
        if line.startswith("#"):
            if line.startswith("# sent_id = "):
                sent_id = line[len("# sent_id = "):].strip()
            continue
        columns = line.split("\t")
        if len(columns) != N_COLUMNS:
            raise DataError(f"expected {N_COLUMNS} tab-separated columns, found {len(columns)}",
                            path, line_no)
        word_id = columns[0]
        if "-" in word_id or "." in word_id:
            _check_non_word_id(word_id, path, line_no)
            continue
        if not word_id.isdigit() or int(word_id) != len(rows) + 1:
            raise DataError(f"word ID {word_id!r} out of sequence (expected {len(rows) + 1})",
                            path, line_no)
        head = columns[6]
        if not head.isdigit():
            raise DataError(f"HEAD {head!r} of word {word_id} is not a non-negative integer",
                            path, line_no)
        if not columns[7] or columns[7] == "_":
            raise DataError(f"word {word_id} has no DEPREL", path, line_no)
        rows.append((columns[1], columns[3], columns[4], int(head), columns[7], line_no))
    if rows:
        sentences.append(_finish_sentence(rows, path, sent_id))
    if not sentences:
        raise DataError("no sentences (empty file or only comments)", path)
    return sentences


def _check_non_word_id(word_id, path, line_no):
    parts = word_id.split("-" if "-" in word_id else ".")
    if len(parts) != 2 or not parts[0].isdigit() or not parts[1].isdigit():
        raise DataError(f"bad ID {word_id!r} (expected an integer, a range a-b or a decimal a.b)",
                        path, line_no)


def _finish_sentence(rows, path, sent_id):
    forms, upos, xpos, heads, deprels, lines = (list(column) for column in zip(*rows))
    heads = np.asarray(heads, dtype=np.int64)
    lines = np.asarray(lines, dtype=np.int64)
    check_tree(heads, path, lines)
    return Sentence(forms, upos, xpos, heads, deprels, path, lines, sent_id)


def check_tree(heads, path="<tree>", lines=None):
    """Check that ``heads`` (int array (n,), 1-based, 0 = root) forms a tree with one root.

    Raises DataError naming the line of the offending word (``lines[i]`` for word i + 1).
    """
    n = len(heads)
    line_of = (lambda i: int(lines[i])) if lines is not None else (lambda i: None)
    bad = np.flatnonzero((heads < 0) | (heads > n) | (heads == np.arange(1, n + 1)))
    if len(bad):
        i = bad[0]
        if heads[i] == i + 1:
            raise DataError(f"word {i + 1} is its own head", path, line_of(i))
        raise DataError(f"HEAD {heads[i]} of word {i + 1} out of range 0..{n}", path, line_of(i))
    roots = np.flatnonzero(heads == 0)
    if len(roots) == 0:
        raise DataError("sentence has no root (no word with HEAD 0)", path, line_of(0))
    if len(roots) > 1:
        first, second = roots[0], roots[1]
        raise DataError(f"second root: words {first + 1} and {second + 1} both have HEAD 0",
                        path, line_of(second))
    # pointer doubling: after ceil(log2(n + 1)) squarings every word that reaches ROOT is at 0
    ancestor = np.concatenate(([0], heads))
    for _ in range(int(n).bit_length()):
        ancestor = ancestor[ancestor]
    if not ancestor.any():
        return
    _raise_cycle(heads, path, line_of)


def _raise_cycle(heads, path, line_of):
    """Find a cycle by walking up from each word and raise DataError naming it."""
    n = len(heads)
    # state 0 = unvisited, 1 = on the current path, 2 = known to reach the root
    state = np.zeros(n + 1, dtype=np.int8)
    state[0] = 2
    for start in range(1, n + 1):
        path_nodes = []
        node = start
        while state[node] == 0:
            state[node] = 1
            path_nodes.append(node)
            node = int(heads[node - 1])
        if state[node] == 1:
            cycle = path_nodes[path_nodes.index(node):] + [node]
            chain = " -> ".join(str(w) for w in cycle)
            raise DataError(f"cycle in heads: {chain}", path, line_of(node - 1))
        state[path_nodes] = 2
