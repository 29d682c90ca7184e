"""Optimizers: a class for bookkeeping and a pure update function for the math, one per file."""

from mesimp_engine.optim.adagrad import AdaGrad, adagrad_update_
from mesimp_engine.optim.adam import Adam, adam_update_
from mesimp_engine.optim.optimizer import Optimizer
from mesimp_engine.optim.sgd import SGD, sgd_update_

__all__ = ["AdaGrad", "Adam", "Optimizer", "SGD", "adagrad_update_", "adam_update_", "sgd_update_"]
