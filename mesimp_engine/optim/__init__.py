"""Optimizers: a class for bookkeeping and a pure update function for the math, one per file;
DropBack and GSM, which rank every weight of the model each step, override the step."""

from mesimp_engine.optim.adagrad import AdaGrad, adagrad_update_
from mesimp_engine.optim.adam import Adam, adam_update_
from mesimp_engine.optim.dropback import DropBack
from mesimp_engine.optim.gsm import GlobalSparseMomentum, magnitude_cut_
from mesimp_engine.optim.optimizer import Optimizer
from mesimp_engine.optim.sgd import SGD, sgd_update_

__all__ = ["AdaGrad", "Adam", "DropBack", "GlobalSparseMomentum", "Optimizer", "SGD", "adagrad_update_",
           "adam_update_", "magnitude_cut_", "sgd_update_"]
