"""One exception type per kind of user mistake.

The CLI turns these into one red line and exit code 2; anything else is a bug
and keeps its traceback. Messages name the file, line, column or value at
fault and say what would be valid.
"""


class AssayError(Exception):
    """Base class for errors caused by the user's input or environment."""

    exit_code = 2


class DataError(AssayError):
    """A dataset, score file or column is malformed or missing."""


class ModelError(AssayError):
    """A model cannot be found, loaded or reached."""


class ConfigError(AssayError):
    """An option or combination of options is invalid."""


class IncompleteRunError(AssayError):
    """Some requests failed; what was computed is kept and a re-run completes the rest."""


class Interrupted(AssayError):
    """The run was stopped by a signal (Ctrl-C, SIGTERM): every response received is stored."""

    def __init__(self, message: str, signum: int):
        super().__init__(message)
        self.signum = signum
        # The shell's convention: 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM).
        self.exit_code = 128 + signum

    @property
    def cause(self) -> str:
        return signal_cause(self.signum)


def signal_cause(signum: int) -> str:
    """'Ctrl-C (SIGINT)', 'SIGTERM', ...: what stopped a run, for its message."""
    import signal

    name = signal.Signals(signum).name
    return "Ctrl-C (SIGINT)" if name == "SIGINT" else name
