"""The MNIST task: data, model, mini-batches, loss and accuracy for the trainer."""

from mesimp_engine.data.prepared import load_mnist
from mesimp_engine.graph import Graph
from mesimp_engine.models.mlp import MLP
from mesimp_engine.train.hidden_activity import PROBE_EXAMPLES

EVAL_BATCH = 1000


class MnistTask:
    """Split as the paper: train 55,000, dev = the first 5,000 training images, test 10,000.
    Score: accuracy in percent."""

    name = "mnist"
    metric = "accuracy"

    def __init__(self, settings):
        data = load_mnist(settings.data_dir, dtype=settings.dtype, standardize=settings.standardize)
        limit, limit_eval = settings.limit_train, settings.limit_eval
        self.splits = {
            split: (x[:limit_eval], y[:limit_eval]) if split != "train" else (x[:limit], y[:limit])
            for split, (x, y) in data.items()
        }
        self.settings = settings

    @property
    def n_train(self):
        return len(self.splits["train"][1])

    def build_model(self, rng, train_rng, linear_options):
        s = self.settings
        return MLP(784, s.hidden_widths, s.layers, 10, s.dropout, rng=rng, dropout_rng=train_rng,
                   linear_options=linear_options,
                   output_options=linear_options if s.sparse_output else {}, init=s.init, dtype=s.dtype)

    def probe_inputs(self):
        """The first training images, for ``train.hidden_activity``."""
        return self.splits["train"][0][:PROBE_EXAMPLES]

    def batch(self, indices):
        x, y = self.splits["train"]
        return x[indices], y[indices]

    def loss(self, model, batch):
        x, y = batch
        return model.loss(x, y)

    def evaluate(self, model, split):
        x, y = self.splits[split]
        correct = 0
        with model.evaluating():
            for start in range(0, len(y), EVAL_BATCH):
                Graph()
                logits = model(x[start : start + EVAL_BATCH]).value
                correct += int((logits.argmax(axis=1) == y[start : start + EVAL_BATCH]).sum())
        return {"accuracy": 100.0 * correct / max(len(y), 1)}
