"""The dependency-parsing task: Chen & Manning's classifier trained on the static oracle's
transitions, evaluated by greedy arc-standard decoding (UAS and LAS, punctuation excluded)."""

import numpy as np

from mesimp_engine.data.arcstandard import Configuration
from mesimp_engine.data.attachment import attachment_scores
from mesimp_engine.data.parser_features import state_features, with_root
from mesimp_engine.data.prepared import load_parse
from mesimp_engine.data.vocab import UNK_REPLACE, replace_singletons
from mesimp_engine.graph import Graph
from mesimp_engine.models.parser import WORDS as WORD_FEATURES
from mesimp_engine.models.parser import ParserMLP
from mesimp_engine.train.hidden_activity import PROBE_EXAMPLES


def greedy_parse(model, sentences, n_labels):
    """Parse ``sentences`` (dicts with int arrays ``words``, ``pos``) greedily, all at once:
    each round scores the current state of every unfinished sentence in one forward pass
    and applies its best legal transition. Returns a list of (heads, labels) arrays."""
    configs = [Configuration(len(s["words"]), n_labels) for s in sentences]
    words = [with_root(s["words"]) for s in sentences]
    tags = [with_root(s["pos"]) for s in sentences]
    active = [i for i, c in enumerate(configs) if not c.is_terminal()]
    while active:
        features = np.stack([state_features(configs[i], words[i], tags[i]) for i in active])
        Graph()
        scores = model(features).value
        legal = np.stack([configs[i].legal_mask() for i in active])
        best = np.where(legal, scores, -np.inf).argmax(axis=1)
        for i, t in zip(active, best):
            configs[i].apply(int(t))
        active = [i for i in active if not configs[i].is_terminal()]
    return [(c.heads_array(), c.labels_array()) for c in configs]


class ParseTask:
    """UD English EWT, basic trees; train on the oracle states of the projective training
    sentences; dev and test on all sentences. Score: UAS (LAS reported too).

    Words seen once in training become the unknown word with probability
    ``data.vocab.UNK_REPLACE`` (0.25) in the 18 word features of each training batch (as in
    the POS task): otherwise the unknown-word embedding is never trained, while 6.8% of the
    dev tokens are unknown. Chen & Manning did not need this (pre-trained embeddings covered
    their unseen words); the papers do not say. Measured (dense, dropout 0.5, Adam 0.003), dev / test UAS at
    epoch 7: 83.59 / 82.63 without it, 84.01 / 83.81 with it.
    """

    name = "parse"
    metric = "uas"

    def __init__(self, settings):
        data = load_parse(settings.data_dir)
        self.settings, self.data = settings, data
        limit = settings.limit_train
        self.features = data["train_features"][:limit]
        self.transitions = data["train_transitions"][:limit]
        self.eval_sentences = {split: data[split][: settings.limit_eval] for split in ("dev", "test")}
        self.rng = None  # the run's training generator, set by build_model

    @property
    def n_train(self):
        return len(self.transitions)

    def build_model(self, rng, train_rng, linear_options):
        s, d = self.settings, self.data
        self.rng = train_rng
        return ParserMLP(d["n_words"], d["n_pos"], d["n_label_ids"], d["n_transitions"], hidden=s.hidden_widths,
                         layers=s.layers, dropout=s.dropout, rng=rng, dropout_rng=train_rng,
                         linear_options=linear_options, output_options=linear_options if s.sparse_output else {},
                         init=s.init)

    def probe_inputs(self):
        """The features of the first training states (unknown-word replacement not
        applied), for ``train.hidden_activity``."""
        return self.features[:PROBE_EXAMPLES]

    def batch(self, indices):
        features = self.features[indices]
        features[:, WORD_FEATURES] = replace_singletons(features[:, WORD_FEATURES], self.data["word_singleton"],
                                                        UNK_REPLACE, self.rng, self.data["UNKNOWN"])
        return features, self.transitions[indices]

    def loss(self, model, batch):
        return model.loss(*batch)

    def evaluate(self, model, split):
        sentences = self.eval_sentences[split]
        with model.evaluating():
            parsed = greedy_parse(model, sentences, self.data["n_labels"])
        heads = [h for h, _ in parsed]
        labels = [l for _, l in parsed]
        scores = attachment_scores(heads, labels, sentences, exclude_punct=True)
        return {"uas": scores["uas"], "las": scores["las"]}
