"""JSON arrays of objects kept as text in bronze (`nested` in cdp.yaml) are checked on landing.

A web order's `line_items` and `status_history` are JSON text in bronze and decoded in silver. A line
quantity of "two" or a price of "abc" used to become null in silver without a record (the line's
amount with it), and a status history that was plain text ("created") stopped `cdp standardize`.
Ingest now decodes them as silver does and parses each typed key with silver's parsers: such a row is
rejected whole, its item (from 1) and key named; whatever silver reads still lands. A line without a
quantity or a price (`nested_not_null`) is rejected too (missing_value): its amount would be null.
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest
from pydantic import ValidationError

from ingest.config import EntityConfig, SourcesConfig
from ingest.loader import load_source
from ingest.silver.orders import json_arrays
from ingest.standardize import standardize
from tests.ingest import landing as exports

FILE = "ecom/orders/orders_2025-03.jsonl"


def _order(order_id: int, **changes: object) -> dict:
    return {**exports.ecom_order(order_id, 700000001, ["created", "shipped"]), **changes}


def _line(line_id: int, quantity: object = 1, price: object = "178.00") -> dict:
    return {
        "id": line_id,
        "sku": f"SKU-{line_id}",
        "title": "cup",
        "category": "home",
        "quantity": quantity,
        "price": price,
    }


def _rejected(lake) -> list[tuple]:
    return lake.quarantine("ecom").sort("row_number").select("file", "row_number", "reason", "detail").rows()


def test_an_order_whose_line_quantity_or_price_does_not_parse_is_rejected_naming_the_line_and_key(
    config, landing, lake
):
    exports.ecom_orders(
        landing,
        "2025-03",
        [
            _order(1, line_items=[_line(1), _line(2, quantity=3)]),
            _order(2, line_items=[_line(1, quantity="two"), _line(2)]),
            _order(3, line_items=[_line(1), _line(2, price="abc")]),
            _order(4, line_items=[_line(1, quantity=2.5)]),
            _order(5, line_items=[_line(1, price=1e30)]),
            _order(6, line_items=[]),  # no line: its position counts nothing
            _order(7, line_items=[None, _line(2), _line(3)]),  # a null item is skipped, not counted away
            _order(
                8, line_items=[None, _line(2, quantity="many"), _line(3, price="free")]
            ),  # the first bad item
        ],
    )
    load_source(config, "ecom", "b1")
    standardize(config, "b1")

    line = "field 'line_items', item"
    assert _rejected(lake) == [
        (FILE, 2, "bad_number", f"{line} 1 of 2, key 'quantity': 'two' is not a valid integer"),
        (FILE, 3, "bad_number", f"{line} 2 of 2, key 'price': 'abc' is not a valid decimal"),
        (FILE, 4, "bad_number", f"{line} 1 of 1, key 'quantity': '2.5' is not a valid integer"),
        (
            FILE,
            5,
            "bad_number",
            f"{line} 1 of 1, key 'price': '1000000000000000000000000000000' is a number beyond the range "
            "of decimal(18,2) (16 digits before the point)",
        ),
        (FILE, 8, "bad_number", f"{line} 2 of 3, key 'quantity': 'many' is not a valid integer"),
    ]
    assert lake.bronze("ecom", "orders")["id"].to_list() == ["1", "6", "7"]
    lines = lake.silver("order_lines").sort("order_id", "line_no")
    assert lines.select("order_id", "line_no", "quantity", "line_amount").rows() == [
        ("ecom:1", 1, 1, Decimal("178.00")),
        ("ecom:1", 2, 3, Decimal("534.00")),
        ("ecom:7", 2, 1, Decimal("178.00")),
        ("ecom:7", 3, 1, Decimal("178.00")),
    ]


def test_an_order_line_without_a_quantity_or_price_is_rejected_naming_the_item_and_key(config, landing, lake):
    """A line whose quantity or price is missing, null or empty used to land, its amount null in silver
    without a record. Both are declared `nested_not_null`: the order is rejected as missing_value, the
    detail naming the item (from 1) and key, and counted with the other rejected rows."""
    no_quantity = {k: v for k, v in _line(2).items() if k != "quantity"}
    exports.ecom_orders(
        landing,
        "2025-03",
        [
            _order(1, line_items=[_line(1)]),
            _order(2, line_items=[_line(1), no_quantity]),
            _order(3, line_items=[_line(1, price=None)]),
            _order(4, line_items=[_line(1, quantity="")]),
            _order(5, line_items=[_line(1, quantity="  ", price="abc")]),  # the first key declared: quantity
            _order(6, line_items=[None, {}]),  # an empty object is an item without either
            _order(7, line_items=[_line(1, quantity="two"), _line(2, price="")]),  # the first item's problem
            _order(8, line_items=[]),  # an order without lines still lands
        ],
    )
    summary = load_source(config, "ecom", "b1")
    standardize(config, "b1")

    def empty(item: int, of: int, key: str) -> str:
        return f"field 'line_items', item {item} of {of}, key '{key}' is missing or empty; every item must fill it"

    assert _rejected(lake) == [
        (FILE, 2, "missing_value", empty(2, 2, "quantity")),
        (FILE, 3, "missing_value", empty(1, 1, "price")),
        (FILE, 4, "missing_value", empty(1, 1, "quantity")),
        (FILE, 5, "missing_value", empty(1, 1, "quantity")),
        (FILE, 6, "missing_value", empty(2, 2, "quantity")),
        (
            FILE,
            7,
            "bad_number",
            "field 'line_items', item 1 of 2, key 'quantity': 'two' is not a valid integer",
        ),
    ]
    assert summary["rows_quarantined"] == 6
    assert lake.manifest().select("rows_read", "rows_landed", "rows_quarantined").row(0) == (8, 2, 6)
    assert sorted(lake.silver("orders")["order_id"].to_list()) == ["ecom:1", "ecom:8"]
    assert lake.silver("order_lines")["line_amount"].null_count() == 0


def test_a_required_item_key_must_be_declared_nested():
    EntityConfig.model_validate(_orders(nested_not_null={"items": ["qty"]}))
    with pytest.raises(ValidationError, match=r"nested_not_null names items\.price"):
        EntityConfig.model_validate(_orders(nested_not_null={"items": ["qty", "price"]}))
    with pytest.raises(ValidationError, match=r"nested_not_null names lines\.qty"):
        EntityConfig.model_validate(_orders(nested_not_null={"lines": ["qty"]}))


def test_line_items_that_are_not_an_array_of_objects_are_rejected_with_the_reason(config, landing, lake):
    exports.ecom_orders(
        landing,
        "2025-03",
        [
            _order(1),
            _order(2, line_items="two cups"),
            _order(3, line_items={"id": 1, "quantity": 1}),
            _order(4, line_items=[_line(1), "cup"]),
            _order(5, line_items=[{**_line(1), "title": {"zh": "杯子"}}]),
            _order(6, line_items=[]),  # an order without lines lands
        ],
    )
    load_source(config, "ecom", "b1")
    standardize(config, "b1")

    bad = "is not a JSON array of objects"
    assert [(n, reason, detail) for _, n, reason, detail in _rejected(lake)] == [
        (2, "bad_nested_json", f"field 'line_items': 'two cups' {bad} (it is not JSON: a plain text value)"),
        (3, "bad_nested_json", f"""field 'line_items': '{{"id":1,"quantity":1}}' {bad} (it is a JSON object, not an array)"""),
        (4, "bad_nested_json", f"field 'line_items': '{_json([_line(1), 'cup'])}' {bad} (item 2 of 2 is a JSON string, not an object)"),
        (
            5,
            "bad_nested_json",
            f"field 'line_items': '{_json([{**_line(1), 'title': {'zh': '杯子'}}])}' {bad} (item 1 of 1, key 'title', "
            "holds a JSON object where one value belongs)",
        ),
    ]  # fmt: skip
    assert sorted(lake.silver("orders")["order_id"].to_list()) == ["ecom:1", "ecom:6"]


def _json(value: object) -> str:
    """How DuckDB's reader keeps a nested value in bronze: compact JSON text."""
    import json

    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def test_every_value_silver_reads_lands_and_types_there(config, landing, lake):
    """Ingest accepts exactly what silver reads: numbers as JSON numbers or text, 2.0 as an integer,
    scientific notation, thousands separators; a missing optional key (a title, a category) or a
    null item is no problem."""
    exports.ecom_orders(
        landing,
        "2025-03",
        [
            _order(
                1, line_items=[_line(1, quantity=2.0, price=1.5e1), _line(2, quantity="3", price="1,299.00")]
            ),
            _order(2, line_items=[None, {"id": 1, "sku": "SKU-1", "quantity": 1, "price": "9.90"}]),
        ],
    )
    load_source(config, "ecom", "b1")
    standardize(config, "b1")

    assert lake.quarantine("ecom").is_empty()
    lines = lake.silver("order_lines").sort("order_id", "line_no")
    assert lines.select("order_id", "line_no", "quantity", "unit_price").rows() == [
        ("ecom:1", 1, 2, Decimal("15.00")),
        ("ecom:1", 2, 3, Decimal("1299.00")),
        ("ecom:2", 1, 1, Decimal("9.90")),
    ]
    assert lake.silver("order_lines").filter(pl.col("order_id") == "ecom:2")["product_name"].to_list() == [
        None
    ]


def test_a_line_without_an_id_is_numbered_by_its_position(config, landing, lake):
    """order_lines is keyed on (order_id, line_no): an item that leaves out its id takes its
    position in the array (null items counted), not a null line number."""
    no_id = {"sku": "SKU-9", "quantity": 1, "price": "9.90"}
    exports.ecom_orders(
        landing,
        "2025-03",
        [_order(1, line_items=[no_id, no_id]), _order(2, line_items=[None, _line(2), no_id])],
    )
    load_source(config, "ecom", "b1")
    standardize(config, "b1")

    assert lake.quarantine("ecom").is_empty()
    lines = lake.silver("order_lines").sort("order_id", "line_no")
    assert lines.select("order_id", "line_no", "sku").rows() == [
        ("ecom:1", 1, "SKU-9"),
        ("ecom:1", 2, "SKU-9"),
        ("ecom:2", 2, "SKU-2"),
        ("ecom:2", 3, "SKU-9"),
    ]


def test_a_status_history_that_is_plain_text_is_rejected_and_standardize_runs(config, landing, lake):
    exports.ecom_orders(
        landing,
        "2025-03",
        [
            _order(1),
            _order(2, status_history="created"),
            _order(3, status_history=["created", "shipped"]),
            _order(4, status_history=None),  # no history: the path is the status
            _order(5, status_history=""),  # empty text is missing too
        ],
    )
    load_source(config, "ecom", "b1")
    standardize(config, "b1")  # stopped with a polars ComputeError before

    bad = "field 'status_history': '{}' is not a JSON array of objects ({})"
    assert [(n, reason, detail) for _, n, reason, detail in _rejected(lake)] == [
        (2, "bad_nested_json", bad.format("created", "it is not JSON: a plain text value")),
        (
            3,
            "bad_nested_json",
            bad.format('["created","shipped"]', "item 1 of 2 is a JSON string, not an object"),
        ),
    ]
    orders = lake.silver("orders").sort("order_id").select("order_id", "status_path", "status_path_valid")
    assert orders.rows() == [
        ("ecom:1", "created>shipped", True),
        ("ecom:4", "shipped", False),
        ("ecom:5", "shipped", False),
    ]


def test_every_json_array_silver_decodes_is_declared_nested_with_the_types_silver_gives(config):
    """Silver decodes these columns and parses their keys; a key the registry leaves out or types
    otherwise would reach silver unchecked (a null quantity without a record, or a crash)."""
    undeclared = []
    for source, registry in config.section("sources", SourcesConfig).root.items():
        for name, entity in registry.entities.items():
            for mapping in entity.silver.values():
                for column, keys in json_arrays(mapping).items():
                    declared = entity.nested.get(column, {})
                    undeclared += [
                        f"{source}.{name}: {column}.{key}: {declared.get(key, 'undeclared')}, not {kind}"
                        for key, kind in keys.items()
                        if declared.get(key) != kind
                    ]
    assert undeclared == []
    orders = config.section("sources", SourcesConfig).get("ecom").entities["orders"]
    assert set(orders.nested) == {"line_items", "status_history"}


def _orders(**changes: object) -> dict:
    return {
        "path": "x.jsonl",
        "format": "jsonl",
        "primary_key": ["id"],
        "silver": {
            "orders": {
                "columns": {"source_order_id": "id", "status_history": "history"},
                "lines": {"column": "items", "fields": {"quantity": "qty"}},
            }
        },
        "nested": {"items": {"qty": "integer"}, "history": {"status": "string"}},
        **changes,
    }


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"nested": {"history": {"status": "string"}}}, "decodes column 'items' as a JSON array"),
        ({"nested": {"items": {"qty": "integer"}}}, "decodes column 'history' as a JSON array"),
        ({"nested": {"items": {"qty": "integer"}, "history": {}}}, "nested column 'history' declares no key"),
        ({"types": {"items": "integer"}}, "nested column 'items' is also under `types`"),
    ],
)
def test_a_column_silver_decodes_as_a_json_array_must_be_declared_nested(changes, message):
    EntityConfig.model_validate(_orders())
    with pytest.raises(ValidationError, match=message):
        EntityConfig.model_validate(_orders(**changes))


def test_declaring_nested_re_reads_the_files_and_none_keeps_the_fingerprint():
    plain = {"path": "x.jsonl", "format": "jsonl", "primary_key": ["id"]}
    nested = EntityConfig.model_validate({**plain, "nested": {"items": {"qty": "integer"}}})
    assert nested.fingerprint() != EntityConfig.model_validate(plain).fingerprint()
    assert EntityConfig.model_validate({**plain, "nested": {}}).fingerprint() == (
        EntityConfig.model_validate(plain).fingerprint()
    )
    assert "items" in nested.required_columns()
    required = EntityConfig.model_validate(
        {**plain, "nested": {"items": {"qty": "integer"}}, "nested_not_null": {"items": ["qty"]}}
    )
    assert required.fingerprint() != nested.fingerprint()  # orders once landed without a quantity are re-read
    assert EntityConfig.model_validate({**plain, "nested_not_null": {}}).fingerprint() == (
        EntityConfig.model_validate(plain).fingerprint()
    )


def test_a_bad_value_among_many_rows_is_found_and_the_others_land(config, landing, lake):
    """The rows silver's decoding refuses are searched for by halving: one among a thousand."""
    orders: list[dict] = [_order(n) for n in range(1, 1001)]
    orders[636] = _order(637, line_items="one cup")
    exports.ecom_orders(landing, "2025-03", orders)
    load_source(config, "ecom", "b1")
    assert [(n, reason) for _, n, reason, _ in _rejected(lake)] == [(637, "bad_nested_json")]
    assert lake.bronze("ecom", "orders").height == 999
    assert lake.bronze("ecom", "orders")["line_items"].null_count() == 0
