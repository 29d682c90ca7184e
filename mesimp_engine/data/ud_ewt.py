"""UD English EWT encoded for the POS tagger and the parser.

Vocabularies are built on the training split only, then frozen:

- ``words``: lower-cased forms (``vocab.word_key``), specials NULL=0, ROOT=1, UNKNOWN=2;
  shared by the tagger and the parser.
- ``xpos``: the parser's POS-tag feature vocabulary (gold XPOS), same specials.
- ``labels``: DEPREL with subtypes (e.g. ``nmod:poss``), same specials; a label's index in the
  transition system is its id minus 3 (``arcstandard`` ids).
- ``tags``: the tagger's output classes (XPOS), no specials; a dev/test tag unseen in training
  gets id -1 (always wrong).
- the seven ``pos_features`` vocabularies.

Per split, every token gets: word id, 7 feature ids, tag id, parser POS id, gold head,
label index (-1 when unseen in training), punctuation flag (``attachment.is_punct``).
"""

import time

import numpy as np

from mesimp_engine.data.arcstandard import is_projective
from mesimp_engine.data.attachment import is_punct
from mesimp_engine.data.conllu import read_conllu
from mesimp_engine.data.parser_features import LABEL_OFFSET, oracle_features
from mesimp_engine.data.pos_features import FEATURE_NAMES, build_feature_vocabs, encode_features
from mesimp_engine.data.vocab import PARSER_SPECIALS, Vocab, word_key

SPLIT_FILES = {"train": "en_ewt-ud-train.conllu", "dev": "en_ewt-ud-dev.conllu",
               "test": "en_ewt-ud-test.conllu"}
SPLITS = tuple(SPLIT_FILES)


def read_treebank(folder):
    """dict split -> list of conllu.Sentence, read from the three files in ``folder``."""
    return {split: read_conllu(folder / name) for split, name in SPLIT_FILES.items()}


def build_vocabs(train):
    """The frozen vocabularies (dict name -> Vocab; ``feat0``..``feat6``) built on the
    training sentences."""
    forms = [f for s in train for f in s.forms]
    vocabs = {
        "words": Vocab.build((word_key(f) for f in forms), specials=PARSER_SPECIALS),
        "xpos": Vocab.build((t for s in train for t in s.xpos), specials=PARSER_SPECIALS),
        "labels": Vocab.build((d for s in train for d in s.deprels), specials=PARSER_SPECIALS),
        "tags": Vocab.build((t for s in train for t in s.xpos), specials=()),
    }
    for j, vocab in enumerate(build_feature_vocabs(forms)):
        vocabs[f"feat{j}"] = vocab
    return vocabs


def encode_split(sentences, vocabs):
    """Flat token arrays of a split plus sentence offsets (dict of arrays):
    offsets (S+1,), words (T,), feats (T, 7), tags (T,), pos (T,), heads (T,), labels (T,),
    punct (T,) bool, projective (S,) bool."""
    feat_vocabs = [vocabs[f"feat{j}"] for j in range(len(FEATURE_NAMES))]
    tags = vocabs["tags"]
    forms = [f for s in sentences for f in s.forms]
    xpos = [t for s in sentences for t in s.xpos]
    label_ids = vocabs["labels"].indices([d for s in sentences for d in s.deprels])
    return {
        "offsets": np.cumsum([0] + [len(s) for s in sentences], dtype=np.int64),
        "words": vocabs["words"].indices([word_key(f) for f in forms]),
        "feats": encode_features(forms, feat_vocabs),
        "tags": np.fromiter((tags.ids.get(t, -1) for t in xpos), dtype=np.int64, count=len(xpos)),
        "pos": vocabs["xpos"].indices(xpos),
        "heads": np.concatenate([s.heads for s in sentences]),
        "labels": np.where(label_ids >= LABEL_OFFSET, label_ids - LABEL_OFFSET, -1),
        "punct": np.concatenate([is_punct(s.upos) for s in sentences]),
        "projective": np.fromiter((is_projective(s.heads) for s in sentences), dtype=bool,
                                  count=len(sentences)),
    }


def split_sentences(encoded, key):
    """The per-sentence pieces of a flat array of an encoded split (list of arrays)."""
    offsets = encoded["offsets"]
    return [encoded[key][offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]


def training_oracle_features(encoded, n_labels):
    """Chen & Manning features and gold transitions on the oracle path of every projective
    training sentence: (X int64 (T, 48), y int64 (T,), seconds taken)."""
    start = time.perf_counter()
    keep = np.flatnonzero(encoded["projective"])
    columns = []
    for key in ("heads", "labels", "words", "pos"):
        pieces = split_sentences(encoded, key)
        columns.append([pieces[i] for i in keep])
    X, y = oracle_features(*columns, n_labels)
    return X, y, time.perf_counter() - start
