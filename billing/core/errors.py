"""The library's own errors, each carrying a French sentence that says how to fix it.

The CLI prints them in one line and exits 1; any other exception is a bug and keeps
its traceback.
"""


class UserError(Exception):
    """A problem the user can fix (a busy ledger, a folder that exists, …)."""
