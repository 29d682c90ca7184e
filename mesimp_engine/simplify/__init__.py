"""meSimp: activity records, the prune rule, in-place trimming, and the cycle schedule."""

from mesimp_engine.simplify.activity import ActivityRecord
from mesimp_engine.simplify.prune import (
    prune_mlp_, prune_tagger_, slice_columns_, slice_parameter_, trim_linear_units_,
    trim_lstm_cells_, trim_mlp_, trim_tagger_,
)
from mesimp_engine.simplify.schedule import PruneSchedule

__all__ = [
    "ActivityRecord", "PruneSchedule", "prune_mlp_", "prune_tagger_", "slice_columns_", "slice_parameter_",
    "trim_linear_units_", "trim_lstm_cells_", "trim_mlp_", "trim_tagger_",
]
