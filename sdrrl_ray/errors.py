"""User-facing errors: the CLI turns these into one line on stderr and exit status 2."""


class UserError(Exception):
    """Something the user can fix (a bad config, a missing file, an input that does not parse).

    The message says what is wrong, where, and how to fix it.
    """


class ConfigError(UserError):
    """One or more config problems, reported together."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))
