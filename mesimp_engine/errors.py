"""The engine's errors: each names the op (and layer) and the shapes involved."""


class EngineError(Exception):
    """Base of the engine's own errors."""


class ShapeError(EngineError, ValueError):
    """Inputs of an op whose shapes do not fit together."""


class StaleNodeError(EngineError, RuntimeError):
    """A node used after its graph was renewed."""


class NonFiniteError(EngineError, FloatingPointError):
    """NaN or inf produced by an op's forward or backward (finite-check mode)."""


class TrainingDiverged(EngineError, RuntimeError):
    """A training step's loss became NaN or inf."""


def describe(op, node_name=None):
    """'Affine' or 'Affine (layer mlp.0)': how errors name an op."""
    label = type(op).__name__ if not isinstance(op, str) else op
    return f"{label} (layer {node_name})" if node_name else label
