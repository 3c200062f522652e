"""Small hand-written landing exports in the shapes of docs/data_model.md section 1.

Each helper writes one file the way its source system would, so a test reads as: given this
export, ingestion lands / quarantines / fails exactly so.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

MEMBERS_HEADER = "card_no,member_no,name,mobile,gender,birthday,email,store_id,registered_at"
TICKETS_HEADER = "ticket_no,store_id,card_no,sold_at,line_no,sku,item_name,category,qty,unit_price,line_amount,payment_method"
SERVICE_HEADER = (
    "ticket_id,requester_id,requester_name,requester_email,requester_phone,channel,priority,status,"
    "subject,product_serial,created_at,first_response_at,resolved_at,contacts,csat"
)


def write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def pos_members(
    landing: Path,
    store: str = "S001",
    rows: list[str] | None = None,
    legacy: bool = False,
    header: str = MEMBERS_HEADER,
    encoding: str | None = None,
) -> Path:
    folder = "legacy" if legacy else "stores"
    body = (
        rows
        if rows is not None
        else [
            f"8800000001,L00000001,王芳,13800138000,女,1985-03-12,,{store},2024-03-01 10:22:05",
            f"8800000002,,Wang Fang,+86 138 0013 8001,F,1985/3/12,Wang.Fang@Example.com ,{store},2024-03-02 11:00:00",
            f"8800000003,L00000003,FANG WANG,0086-138-0013-8002,M,12.03.1985,,{store},2024-03-03 12:00:00",
        ]
    )
    return write_text(
        landing / "pos" / folder / store / "members.csv",
        "\n".join([header, *body]) + "\n",
        encoding or ("gbk" if legacy else "utf-8"),
    )


def ticket_line(
    ticket: str,
    line: int,
    card: str = "8800000001",
    amount: str = '"1,299.00"',
    qty: int = 1,
    sold_at: str = "2025-03-01 14:03:11",
    store: str = "S001",
) -> str:
    return (
        f"{ticket},{store},{card},{sold_at},{line},SKU-000123,保温杯 500ml,home,{qty},{amount},{amount},cash"
    )


def pos_tickets(landing: Path, month: str, lines: list[str], store: str = "S001") -> Path:
    return write_text(
        landing / "pos" / "stores" / store / f"tickets_{month}.csv",
        "\n".join([TICKETS_HEADER, *lines]) + "\n",
    )


def jsonl(path: Path, rows: list[dict | str]) -> Path:
    lines = [row if isinstance(row, str) else json.dumps(row, ensure_ascii=False) for row in rows]
    return write_text(path, "\n".join(lines) + "\n")


def parquet(path: Path, columns: dict[str, pa.Array]) -> Path:
    """A Parquet export with the physical types of `columns`, as a warehouse unload writes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return path


def ecom_customers(landing: Path) -> Path:
    return jsonl(
        landing / "ecom" / "customers.jsonl",
        [
            {
                "id": 700000001,
                "email": "Jane.Doe+shop@Gmail.com",
                "first_name": "Jane",
                "last_name": "Doe",
                "phone": "+8613800138000",
                "created_at": "2024-01-02T10:00:00+08:00",
                "updated_at": "2024-02-02T10:00:00+08:00",
                "accepts_marketing": True,
                "accepts_marketing_updated_at": "2024-01-02T10:00:00+08:00",
                "birthday": "1990-05-01",
                "gender": "female",
                "device_id": "d-1",
                "default_address": {
                    "address1": "1 Nanjing Rd",
                    "address2": None,
                    "city": "上海",
                    "province": "上海",
                    "zip": "200001",
                    "country_code": "CN",
                },
            },
            {
                "id": 700000002,
                "email": "not-an-email",
                "first_name": "芳",
                "last_name": "王",
                "phone": None,
                "created_at": "2024-01-03T10:00:00+08:00",
                "updated_at": "2024-01-03T10:00:00+08:00",
                "accepts_marketing": False,
                "accepts_marketing_updated_at": None,
                "birthday": None,
                "gender": None,
                "device_id": None,
                "default_address": None,
            },
        ],
    )


def ecom_order(
    order_id: int,
    customer: int | None,
    history: list[str],
    status: str | None = None,
    created: str = "2025-03-01T14:03:11+08:00",
) -> dict:
    return {
        "id": order_id,
        "name": f"#{order_id}",
        "customer_id": customer,
        "email": None,
        "phone": None,
        "created_at": created,
        "updated_at": created,
        "currency": "CNY",
        "total_price": "356.00",
        "payment_gateway": "alipay",
        "status": status or history[-1],
        "status_history": [{"status": s, "at": created} for s in history],
        "shipping_address": {"city": "上海"},
        "line_items": [
            {"id": 1, "sku": "SKU-1", "title": "cup", "category": "home", "quantity": 2, "price": "178.00"},
        ],
    }


def ecom_orders(landing: Path, month: str, orders: list[dict | str]) -> Path:
    return jsonl(landing / "ecom" / "orders" / f"orders_{month}.jsonl", orders)


def ecom_events(landing: Path, month: str, events: list[dict | str]) -> Path:
    return jsonl(landing / "ecom" / "events" / f"events_{month}.jsonl", events)


def event(event_id: str, customer: int | None = 700000001) -> dict:
    return {
        "event_id": event_id,
        "event_type": "page_view",
        "customer_id": customer,
        "device_id": "d-1",
        "session_id": "s-1",
        "sku": None,
        "channel": "web",
        "ts": "2025-03-01T10:00:00+08:00",
    }


def social(landing: Path) -> None:
    jsonl(
        landing / "social" / "profiles.jsonl",
        [
            {
                "platform": "weibo",
                "handle": "fangfang",
                "display_name": "芳芳",
                "bio": "",
                "followers": 10,
                "created_at": "2023-05-01 10:00:00",
                "email": None,
                "phone": None,
            },
        ],
    )
    jsonl(
        landing / "social" / "posts" / "posts_2025-03.jsonl",
        [
            {
                "post_id": "p1",
                "platform": "weibo",
                "handle": "fangfang",
                "type": "post",
                "parent_post_id": None,
                "text": "好用!",
                "created_at": "2025-03-02 09:00:00",
                "likes": 3,
            },
            {
                "post_id": "p2",
                "platform": "weibo",
                "handle": "fangfang",
                "type": "comment",
                "parent_post_id": "p1",
                "text": "太慢了",
                "created_at": "2025-03-02 10:00:00",
                "likes": 0,
            },
        ],
    )


def service_tickets(landing: Path, month: str = "2025-03", rows: list[str] | None = None) -> Path:
    body = (
        rows
        if rows is not None
        else [
            "T1,R1,王芳,wf@example.com,13800138000,phone,high,confirmed,broken lid,SN1,2025-03-01 09:00:00,"
            "2025-03-01 10:00:00,2025-03-02 09:00:00,2,5",
            "T2,R1,王芳,wang.fang@example.com,13800138000,chat,low,logged,question,,2025-03-05 09:00:00,,,1,",
        ]
    )
    return write_text(landing / "service" / f"tickets_{month}.csv", "\n".join([SERVICE_HEADER, *body]) + "\n")


def loyalty(landing: Path) -> None:
    db = landing / "loyalty" / "loyalty.sqlite"
    db.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db) as con:
        con.execute(
            "create table members (member_id text, full_name text, mobile text, email text, birth_date text,"
            " gender text, national_id text, tier text, enrolled_at text, address text, city text, province text,"
            " postcode text, consent_email integer, consent_sms integer, consent_wechat integer,"
            " consent_profiling integer, consent_updated_at text)"
        )
        con.execute(
            "insert into members values ('L00000001', '王芳', '13800138000', 'wf@example.com', '1985-03-12', '女',"
            " '310101198503120020', 'gold', '2024-01-01 09:00:00', '1 Nanjing Rd', '上海', '上海', '200001',"
            " 1, 0, null, 1, '2024-01-01 09:00:00')"
        )
    write_text(
        landing / "loyalty" / "points" / "points_2025-03.csv",
        "entry_id,member_id,occurred_at,entry_type,points,order_ref,store_id\n"
        "E1,L00000001,2025-03-01 14:03:11,earn,1299,S001-20250301-000123,S001\n"
        "E2,L00000001,2025-03-09 10:00:00,redeem,-1000,,S001\n",
    )
    write_text(
        landing / "loyalty" / "coupons.csv",
        "coupon_id,member_id,campaign,value,issued_at,expires_at,redeemed_at,order_ref\n"
        "C1,L00000001,spring,10.00,2025-03-01 00:00:00,2025-04-01 00:00:00,,\n",
    )


def survey(
    landing: Path, quarter: str = "2025-Q1", extra_sheet: bool = True, responses: list[list] | None = None
) -> Path:
    import xlsxwriter

    path = landing / "survey" / f"responses_{quarter}.xlsx"
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = xlsxwriter.Workbook(str(path))
    sheet = workbook.add_worksheet("responses")
    rows = [
        [
            "response_id",
            "submitted_at",
            "respondent_name",
            "email",
            "phone",
            "nps",
            "csat",
            "touchpoint",
            "comment",
        ],
        *(
            responses
            or [
                ["Q1", "2025-03-03 10:00:00", "王芳", "wf@example.com", "13800138000", 9, 5, "store", "很好"],
                ["Q2", "2025-03-04 10:00:00", "Li Lei", None, None, 3, 2, "online", "slow delivery"],
            ]
        ),
    ]
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value is not None:
                sheet.write(r, c, value)
    if extra_sheet:
        summary = workbook.add_worksheet("summary")
        summary.write(0, 0, "responses")
        summary.write(0, 1, 2)
    workbook.close()
    return path


def every_source(landing: Path) -> None:
    """One small, valid export of every configured source."""
    pos_members(landing)
    pos_tickets(
        landing, "2025-03", [ticket_line("S001-20250301-000123", 1), ticket_line("S001-20250301-000123", 2)]
    )
    ecom_customers(landing)
    ecom_orders(landing, "2025-03", [ecom_order(5100000001, 700000001, ["created", "shipped", "settled"])])
    ecom_events(landing, "2025-03", [event("e1"), event("e2", None)])
    social(landing)
    service_tickets(landing)
    loyalty(landing)
    survey(landing)
