"""The one error type that the command line reports as a single line (bad input, not a bug)."""

__all__ = ["UsageError"]


class UsageError(ValueError):
    """Invalid user input: a bad config, a missing data path, an infeasible target, a wrong table.

    The message says what is wrong and what would work; the CLI prints it on one line and exits 2.
    """
