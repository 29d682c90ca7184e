"""Punctuation and attachment scores (UAS / LAS) for dependency parsing.

Punctuation choice: a token is punctuation when its UPOS is ``PUNCT`` (the UD tag; in EWT it
covers the PTB punctuation XPOS tags `` '' , . : -LRB- -RRB- HYPH NFP and a few more). As is
standard (Chen & Manning 2014), punctuation tokens are left out of UAS and LAS.
"""

import numpy as np

PUNCT_UPOS = "PUNCT"


def is_punct(upos):
    """bool array (n,): True where the UPOS tag (list of n strings) is PUNCT."""
    return np.fromiter((tag == PUNCT_UPOS for tag in upos), dtype=bool, count=len(upos))


def attachment_scores(pred_heads, pred_labels, gold, exclude_punct=True):
    """Unlabelled and labelled attachment scores in percent.

    pred_heads, pred_labels: per sentence, int arrays (n,) of predicted heads (0 = ROOT) and
    label indices. gold: per sentence, a mapping with ``heads``, ``labels`` and ``punct``
    arrays (n,), as in ``prepared.load_parse(...)["dev"]``. A gold label index of -1 (label
    unseen in training) never matches. Returns dict(uas=, las=, n_scored=).
    """
    if len(pred_heads) != len(gold) or len(pred_labels) != len(gold):
        raise ValueError(f"{len(pred_heads)} predicted head lists and {len(pred_labels)} label "
                         f"lists for {len(gold)} gold sentences")
    correct_heads = correct_both = scored = 0
    for heads, labels, sentence in zip(pred_heads, pred_labels, gold):
        heads = np.asarray(heads)
        labels = np.asarray(labels)
        if heads.shape != sentence["heads"].shape or labels.shape != sentence["heads"].shape:
            raise ValueError(f"prediction shapes {heads.shape}, {labels.shape} for a sentence "
                             f"of {len(sentence['heads'])} words")
        keep = ~sentence["punct"] if exclude_punct else np.ones(len(heads), dtype=bool)
        head_ok = (heads == sentence["heads"]) & keep
        correct_heads += int(head_ok.sum())
        label_ok = (labels == sentence["labels"]) & (sentence["labels"] >= 0)
        correct_both += int((head_ok & label_ok).sum())
        scored += int(keep.sum())
    if scored == 0:
        return {"uas": 0.0, "las": 0.0, "n_scored": 0}
    return {"uas": 100.0 * correct_heads / scored, "las": 100.0 * correct_both / scored,
            "n_scored": scored}
