"""Errors a user can fix: unreadable or malformed transactions, and data a model cannot be fitted on."""

from warehouse.errors import CdpError


class ClvError(CdpError):
    """Base class of every customer-lifetime-value error."""


class TransactionsError(ClvError):
    """The transactions cannot be read or break the expected shape (names the file, row and field)."""


class FitError(ClvError):
    """The data cannot identify a model (for example nobody bought twice)."""


class ParamsError(ClvError):
    """A parameter file is missing, unreadable or not in the `cdp clv fit` shape."""
