"""Logging set-up shared by the CLI and Airflow tasks.

Logs say what happened in plain words ("pos: 3 files, 12,345 rows landed, 12 quarantined"); the CLI
chooses the verbosity, Airflow keeps its own handlers.
"""

from __future__ import annotations

import logging
import sys

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure(verbosity: int = 0, quiet: bool = False) -> None:
    """0 = INFO, 1+ = DEBUG, quiet = WARNING. Third-party chatter stays at WARNING."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbosity > 0 else logging.INFO)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, datefmt="%H:%M:%S"))
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("great_expectations", "matplotlib", "urllib3", "fsspec", "asyncio", "filelock", "numexpr"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def get(name: str) -> logging.Logger:
    return logging.getLogger(name)
