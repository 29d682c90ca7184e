"""The POS tagger's seven discrete features per token.

Beside the word id (of the lower-cased form), each token gets seven categorical features,
each looked up in its own vocabulary built on the training split (unseen value -> ``<unk>``):

0. ``cap``: capitalisation pattern of the form: ``lower`` (no upper-case letter),
   ``title`` (first letter upper, the rest not), ``upper`` (all letters upper, at least two),
   ``mixed`` (other patterns with an upper-case letter), ``noalpha`` (no letter at all).
1. ``prefix2``, 2. ``prefix3``: the first 2 / 3 characters of the lower-cased form
   (the whole form when shorter).
3. ``suffix1``, 4. ``suffix2``, 5. ``suffix3``: the last 1 / 2 / 3 characters of the
   lower-cased form (the whole form when shorter).
6. ``chars``: character class: ``number`` (digits and only ``,.:/-`` besides), ``digit``
   (contains a digit, otherwise), ``hyphen`` (contains ``-``, no digit), ``punct`` (no letter
   or digit), ``alpha`` (anything else).

(A prefix of length 1 is left out: it carries little beyond ``prefix2`` and ``cap``.)
"""

from collections import Counter

import numpy as np

from mesimp_engine.data.vocab import UNKNOWN_TOKEN, Vocab

FEATURE_NAMES = ("cap", "prefix2", "prefix3", "suffix1", "suffix2", "suffix3", "chars")
N_FEATURES = len(FEATURE_NAMES)
NUMBER_CHARS = set("0123456789,.:/-")


def capitalisation(form):
    """One of lower, title, upper, mixed, noalpha (see the module docstring)."""
    letters = [c for c in form if c.isalpha()]
    if not letters:
        return "noalpha"
    uppers = [c.isupper() for c in letters]
    if not any(uppers):
        return "lower"
    if all(uppers) and len(letters) > 1:
        return "upper"
    if uppers[0] and not any(uppers[1:]) and form[0].isalpha():
        return "title"
    return "mixed"


def char_class(form):
    """One of number, digit, hyphen, punct, alpha (see the module docstring)."""
    has_digit = any(c.isdigit() for c in form)
    if has_digit and all(c in NUMBER_CHARS for c in form):
        return "number"
    if has_digit:
        return "digit"
    if "-" in form:
        return "hyphen"
    if not any(c.isalnum() for c in form):
        return "punct"
    return "alpha"


def token_features(form):
    """The seven feature values (strings) of one word form, in FEATURE_NAMES order."""
    low = form.lower()
    return (capitalisation(form), low[:2], low[:3], low[-1:], low[-2:], low[-3:],
            char_class(form))


def build_feature_vocabs(forms):
    """Seven frozen vocabularies (each with ``<unk>`` = id 0) from the training forms."""
    counters = [Counter() for _ in FEATURE_NAMES]
    for form, count in Counter(forms).items():
        for counter, value in zip(counters, token_features(form)):
            counter[value] += count
    return [Vocab.from_counts(counter, specials=(UNKNOWN_TOKEN,)) for counter in counters]


def encode_features(forms, vocabs):
    """int64 array (len(forms), 7): the feature ids of each form (computed once per distinct
    form)."""
    rows = {}
    for form in forms:
        if form not in rows:
            rows[form] = [vocab.index(value) for vocab, value in zip(vocabs, token_features(form))]
    out = np.array([rows[form] for form in forms], dtype=np.int64)
    return out.reshape(len(forms), N_FEATURES)
