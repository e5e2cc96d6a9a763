"""Errors a user can fix: the CLI prints their message on one line and exits with status 2."""


class UserError(Exception):
    """Bad input or misuse. The message says what is wrong and what to do about it."""
