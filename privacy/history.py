"""Making sure no old version of a Delta table still holds what was deleted.

A Delta delete only writes a new version; the old data files and the old commit files (whose column
statistics quote minimum and maximum values) stay for time travel. After an erasure every table is
vacuumed with zero retention (`warehouse.delta.vacuum_all_history`) and its log is cut back to a
checkpoint of the current version, so neither old data files nor old commit statistics survive.
"""

from __future__ import annotations

from pathlib import Path

from warehouse import delta

LOG_RETENTION = "delta.logRetentionDuration"
DEFAULT_LOG_RETENTION = "interval 30 days"


def purge_history(path: Path) -> int:
    """Vacuum every unreferenced file and drop the log before the current version; returns files removed."""
    if not delta.exists(path):
        return 0
    removed = len(delta.vacuum_all_history(path))
    table = delta.open_table(path)
    previous = table.metadata().configuration.get(LOG_RETENTION, DEFAULT_LOG_RETENTION)
    table.alter.set_table_properties({LOG_RETENTION: "interval 0 seconds"})
    table = delta.open_table(path)
    table.create_checkpoint()
    table.cleanup_metadata()
    delta.open_table(path).alter.set_table_properties({LOG_RETENTION: previous})
    return removed
