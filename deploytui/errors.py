"""Errors meant for people: one clear line, never a traceback."""


class UserError(Exception):
    """A problem the user can fix. The CLI prints `str(err)` on one line and exits with `exit_code`."""

    exit_code = 1

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class RunbookError(UserError):
    """A runbook that cannot be loaded; `problems` holds every `FILE:LINE: ...` line."""

    exit_code = 2

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


class ActionError(UserError):
    """A native action failed in a way we can explain in one line (credentials, not found, refused)."""
