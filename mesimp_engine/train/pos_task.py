"""The POS-tagging task: UD English EWT XPOS tags (Penn Treebank tags), one sentence per
graph and per update, as in the papers; score: per-token accuracy."""

import numpy as np

from mesimp_engine.data.prepared import load_pos
from mesimp_engine.data.vocab import UNK_REPLACE, replace_singletons
from mesimp_engine.graph import Graph
from mesimp_engine.models.tagger import BiLSTMTagger


class PosTask:
    """Training examples are sentences; ``--batch-size`` must be 1 (one sentence per graph).
    Words seen once in training become the unknown word with probability
    ``data.vocab.UNK_REPLACE`` during training, so the model learns an embedding for unknown
    words."""

    name = "pos"
    metric = "accuracy"

    def __init__(self, settings):
        if settings.batch_size != 1:
            raise ValueError("--batch-size must be 1 for pos: one sentence per graph and per update")
        data = load_pos(settings.data_dir)
        self.settings, self.data = settings, data
        self.train = data["train"][: settings.limit_train]
        self.eval_sentences = {split: data[split][: settings.limit_eval] for split in ("dev", "test")}
        self.rng = None  # the run's training generator, set by build_model

    @property
    def n_train(self):
        return len(self.train)

    def build_model(self, rng, train_rng, linear_options):
        s, d = self.settings, self.data
        self.rng = train_rng
        return BiLSTMTagger(d["n_words"], d["n_feature_values"], d["n_tags"], hidden=s.hidden,
                            dropout=s.dropout, rng=rng, dropout_rng=train_rng, lstm_options=linear_options)

    def example_sizes(self):
        """Tokens per training sentence: what decides a step's shapes (``train.warm_up``)."""
        return np.array([len(words) for words, _, _ in self.train])

    def batch(self, indices):
        words, features, tags = self.train[int(indices[0])]
        words = replace_singletons(words, self.data["word_singleton"], UNK_REPLACE, self.rng,
                                   self.data["UNKNOWN"])
        return words, features, tags

    def loss(self, model, batch):
        return model.loss(*batch)

    def evaluate(self, model, split):
        correct = total = 0
        with model.evaluating():
            for words, features, tags in self.eval_sentences[split]:
                Graph()
                predicted = model(words, features).value.argmax(axis=1)
                correct += int((predicted == tags).sum())
                total += len(tags)
        return {"accuracy": 100.0 * correct / max(total, 1)}
