"""The national id is never required: a source may leave it out, and no analyst ever sees it."""

from __future__ import annotations

import sqlite3

from cdp import pipeline
from tests.privacy.lake import privacy_config
from warehouse import delta
from warehouse.paths import LakePaths

MEMBER_COLUMNS = (
    "member_id, full_name, mobile, email, birth_date, gender, tier, enrolled_at, address, city, province, "
    "postcode, consent_email, consent_sms, consent_wechat, consent_profiling, consent_updated_at"
)


def test_a_loyalty_export_without_national_ids_loads(tmp_path):
    root = tmp_path / "data"
    database = root / "landing" / "loyalty" / "loyalty.sqlite"
    database.parent.mkdir(parents=True)
    with sqlite3.connect(database) as con:
        con.execute(f"create table members ({MEMBER_COLUMNS})")
        con.execute(
            "insert into members values ('L1', '王芳', '13800138000', 'wf@example.com', '1985-03-12', '女', 'gold',"
            " '2024-01-01 09:00:00', '1 Nanjing Rd', '上海', '上海', '200001', 1, 0, null, 1, '2024-01-01 09:00:00')"
        )
    config = privacy_config(root)
    pipeline.ingest(config, "loyalty", "b1")
    assert delta.row_count(LakePaths.at(root).bronze("loyalty", "members")) == 1


def test_no_role_can_ever_read_a_national_id(published_lake):
    from privacy.roles import role_tables
    from privacy.settings import load_settings

    for role in load_settings(published_lake.config).roles:
        readable = {c for columns in role_tables(published_lake.config, role).values() for c in columns}
        assert "national_id" not in readable, role
