"""Personal-data protection: the PII catalogue, pseudonymised publishing, role-based access with an
audit trail, consent, the right to erasure, encryption at rest and tested backups (docs/privacy.md).

Every module here sits on `warehouse/` only; other stages call the few public entry points
(`privacy.publishing.pseudonymise_marts`, `privacy.audit.record`, `privacy.suppression.drop_suppressed`)
and never the internals.
"""
