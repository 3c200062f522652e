"""Bringing an audit log written before queries were logged by shape up to the rule, once.

Until role queries were logged by their shape (`privacy.statements`), `detail.sql` held the
statement as typed, literals and all (`where email = 'jane@x.com'`), and the refusal or error
beside it quoted the same values. `system_admin` reads the log and may see no customer; erasure
only removes an erased person's values. `redact_history` rewrites those events to their shape
(`privacy.audit.redact_history`), purges the log's old Delta versions (which still hold the old
files), rebuilds the role databases (the audit roles hold a copy of the log), marks the log as
shaped (`cdp.audit.sqlShape`) and logs an `audit_history_redacted` event saying how many events
changed. A marked log is left alone: running it again is a no-op, and events logged since are
never masked twice.

It runs from `cdp privacy audit --redact-history` and on every restore (a backup may hold an old
log); `cdp privacy check` fails while the log is unmarked. Like erasure, it purges history with
zero retention, so it holds the data root's lock exclusively (`warehouse.locks`): pipeline stages,
backups and erasures wait for it, and it for them.
"""

from __future__ import annotations

from dataclasses import dataclass

from privacy import audit, history
from privacy.layout import PrivacyPaths
from privacy.roles import AUDIT_TABLE, RESTRICTED_TABLE_SUFFIX, publish_roles, published_columns
from privacy.settings import load_settings
from warehouse.config import CdpConfig
from warehouse.locks import locked
from warehouse.paths import LakePaths

ACTION = "audit_history_redacted"
COMMAND = "cdp privacy audit --redact-history"


@dataclass
class HistoryRedaction:
    """What one run did; `already` when the log was marked shaped before it started."""

    already: bool
    events_checked: int = 0
    events_redacted: int = 0
    history_files_purged: int = 0
    roles_rebuilt: bool = False
    event_id: str | None = None


def known_names(config: CdpConfig) -> frozenset[str]:
    """Every table and column a role query may legitimately name (lower case): the published
    marts and their columns, the configured roles' marts, columns and restricted tables, and the
    audit log's. A double-quoted identifier naming none of them is a value, and is redacted."""
    settings = load_settings(config)
    names: set[str] = {AUDIT_TABLE, *audit.AUDIT_SCHEMA}
    for mart, columns in published_columns(LakePaths.at(config.data_root)).items():
        names |= {mart, *columns}
    for role in settings.roles.values():
        for mart, allowed in role.marts.items():
            names |= {mart, *(allowed if allowed != "*" else [])}
        names |= {f"{mart}{RESTRICTED_TABLE_SUFFIX}" for mart in role.restricted}
    return frozenset(name.lower() for name in names)


@locked("audit history rewrite")
def redact_history(
    config: CdpConfig, *, actor: str | None = None, rebuild_roles: bool = True
) -> HistoryRedaction:
    """Rewrite the log's pre-shape events to their shape once; a no-op on a log already marked.

    Order: rewrite, purge old versions, rebuild role databases, mark, log. A crash before the mark
    leaves the log unmarked, so the next run does the rest (rewriting nothing twice).
    """
    if not audit.history_unredacted(config):
        return HistoryRedaction(already=True)
    checked, redacted = audit.redact_history(config, known_names(config))
    result = HistoryRedaction(already=False, events_checked=checked, events_redacted=redacted)
    result.history_files_purged = history.purge_history(PrivacyPaths.of(config).audit_log)
    if rebuild_roles:
        result.roles_rebuilt = _rebuild_roles(config)
    audit.mark_shaped(config)
    result.event_id = audit.record(
        config,
        ACTION,
        actor=actor,
        target=str(PrivacyPaths.of(config).audit_log),
        row_count=redacted,
        detail={
            "events_checked": checked,
            "events_redacted": redacted,
            "history_files_purged": result.history_files_purged,
            "role_databases_rebuilt": result.roles_rebuilt,
            "sql_shape_version": audit.SHAPE_VERSION,
        },
    )
    return result


def _rebuild_roles(config: CdpConfig) -> bool:
    """Role databases copy the audit log: built again from nothing, so no old page survives."""
    roles = PrivacyPaths.of(config).roles
    if not (roles.is_dir() and any(roles.glob("*.duckdb"))):
        return False
    publish_roles(config)
    return True
