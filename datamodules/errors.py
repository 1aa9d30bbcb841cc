"""The one base class for errors a user can fix: a bad file, flag, mask, hint, request or model spec.

Every command catches `PseudocolorError`, prints its message (one sentence naming the input and what to do)
and exits with status 2; any other exception is a bug and keeps its traceback. It lives in the lowest layer
of the package so every layer can raise it.
"""


class PseudocolorError(Exception):
    """An input the user can fix; the message names it and says what to do."""
