"""The user-facing failures of personal-data protection.

Each one says what was wrong, where, and what to do; the CLI prints them without a traceback. They
are separate types so callers (the Airflow DAG, tests) can tell a refused query from a broken key.
"""

from __future__ import annotations

from warehouse.errors import CdpError


class PrivacyError(CdpError):
    """Base of every privacy failure."""


class KeyProblem(PrivacyError):
    """A key is missing, unreadable, too short, too widely readable, or stored in the wrong place."""


class WrongKeyError(PrivacyError):
    """A file was encrypted with a different key than the one configured."""


class CorruptFileError(PrivacyError):
    """An encrypted file or backup failed its integrity check (tampered with or damaged)."""


class CatalogueError(PrivacyError):
    """A column has no classification, or the catalogue itself is inconsistent."""


class AccessDenied(PrivacyError):
    """A role asked for a table or column it may not read; nothing was executed."""

    exit_code = 3


class UnknownSubjectError(PrivacyError):
    """An erasure request names a person the platform does not hold."""


class ErasureError(PrivacyError):
    """An erasure could not be planned or did not complete; the message lists what was done."""


class BackupError(PrivacyError):
    """A backup or restore problem: corrupt set, non-empty target, missing manifest."""
