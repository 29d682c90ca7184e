"""The one error type of the data pipeline: a message that names the file, the line and
what is wrong, so that a user sees one line and no traceback from deep inside a reader."""


class DataError(ValueError):
    """Bad or missing input data.

    ``str(error)`` is one line: ``"<file>:<line>: <what is wrong>"``, or ``"<file>: <what>"``
    when there is no line (binary files, missing files), or just ``"<what>"``.
    The parts stay available as ``path``, ``line`` and ``reason``.
    """

    def __init__(self, reason, path=None, line=None):
        self.reason = str(reason)
        self.path = None if path is None else str(path)
        self.line = line
        where = ""
        if self.path is not None:
            where = self.path if line is None else f"{self.path}:{line}"
        super().__init__(f"{where}: {self.reason}" if where else self.reason)


class DataNotFound(DataError):
    """Raw or prepared data is missing; the message names the script that prepares it."""
