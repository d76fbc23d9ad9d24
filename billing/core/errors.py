"""A one-sentence BillingError, for failures that are not about one input cell.

``UserError("le registre est occupé …")`` builds the project's one error type with a single,
unlocated problem; ``except BillingError`` catches it like any other.
"""

from billing.core.problems import BillingError, Code


class UserError(BillingError):
    """A problem the user can fix that has no cell to point at (a busy ledger, a folder that exists, …)."""

    def __init__(self, message: str, *, code: Code = Code.INVALID, suggestion: str | None = None):
        super().__init__(BillingError.single(message, code=code, suggestion=suggestion).problems)
        self.message = message

    def __str__(self) -> str:
        return self.message
