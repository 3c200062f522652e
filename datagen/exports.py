"""Writing each source's native files from the spool and the key maps (docs/data_model.md, section 1).

An export covers a time window (`Scope`): the full run writes everything up to `end_date` in monthly
files; an increment writes one day's files (named by the day) and appends that day's new customer
records to the full-export files. Event files are written one month at a time, so memory holds one
month of one source.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from datagen import spool
from datagen.defects import Output
from datagen.ecom import STATUS, STEPS
from datagen.formats import iso_local, local_time, money, month
from datagen.keys import ORDER_BASE, ORDER_NAME_BASE, load_keys
from datagen.nesting import nest
from datagen.random_streams import choice_index, stream
from datagen.settings import GeneratorSettings
from datagen.vocabulary import Vocabulary
from datagen.writers import write_sqlite, write_xlsx

EARLIEST = -(2**62)
LEGACY_ENCODING = "gbk"
LEGACY_LINE_END = "\r\n"
# Optional profile attributes whose defect costs the value, not the row (cdp.yaml `null_if_invalid`):
# a member with an unreadable birthday is still a member, and their orders still have a customer.
SOFT = ("birthday", "birth_date")


@dataclass(frozen=True)
class Scope:
    """What to export: rows timed in [lo, hi) from `spool`, named by month or by `day_label`."""

    spool: Path
    keys: Path
    lo: int
    hi: int
    record_lo: int = EARLIEST  # customer records created from here (full export: all of them)
    day_label: str | None = None
    append: bool = False

    def label(self, period: str) -> str:
        return self.day_label or period

    def months(self, entity: str) -> list[str]:
        first, last = _month_of(self.lo), _month_of(self.hi - 1)
        return [p for p in spool.months(self.spool, entity) if first <= p <= last]

    def rows(self, entity: str, period: str, time: str) -> pl.LazyFrame:
        """The month's rows of `entity` whose `time` lies in the scope's window."""
        window = (pl.col(time) >= self.lo) & (pl.col(time) < self.hi)
        return spool.month_rows(self.spool, entity, period).filter(window)


def _month_of(seconds: int) -> str:
    return pl.select(month(pl.lit(seconds))).item()


@dataclass
class Exporter:
    scope: Scope
    settings: GeneratorSettings
    vocabulary: Vocabulary
    stores: pl.DataFrame
    out: Output

    # --- shared lookups ---------------------------------------------------------------------
    def records(self, source: str) -> pl.DataFrame:
        """This source's customer records in scope, with their final keys."""
        keyed = pl.read_parquet(self.scope.keys / "records.parquet").filter(pl.col("source") == source)
        frame = (
            spool.scan(self.scope.spool, "records")
            .filter(
                (pl.col("source") == source)
                & (pl.col("created_at") >= self.scope.record_lo)
                & (pl.col("created_at") < self.scope.hi)
            )
            .collect()
        )
        return frame.join(keyed.drop("source"), on="rkey", how="inner").sort("created_at", "rkey")

    def record_keys(self, source: str, alias: str) -> pl.DataFrame:
        keyed = pl.read_parquet(self.scope.keys / "records.parquet").filter(pl.col("source") == source)
        return keyed.select(pl.col("rkey").alias(f"{alias}_rkey"), pl.col("record_key").alias(alias))

    def catalog(self) -> pl.DataFrame:
        return self.vocabulary.catalog.with_row_index("sku_idx").with_columns(
            pl.col("sku_idx").cast(pl.Int32)
        )

    def rng(self, *labels: str) -> np.random.Generator:
        return stream(self.settings.seed, "export", *labels)

    def previous_months(self, period: str) -> list[str]:
        year, mon = (int(x) for x in period.split("-"))
        prev = f"{year - (mon == 1)}-{12 if mon == 1 else mon - 1:02d}"
        return [prev, period]

    def choose(
        self, rng: np.random.Generator, options: list[str], n: int, weights: list[float] | None = None
    ) -> pl.Series:
        p = None if weights is None else np.asarray(weights, dtype=float) / sum(weights)
        return pl.Series(np.asarray(options, dtype=object)[rng.choice(len(options), n, p=p)], dtype=pl.String)

    # --- pos -------------------------------------------------------------------------------------
    def pos(self) -> None:
        cards = self.records("pos")
        member_ids = self.record_keys("loyalty", "member")
        rng = self.rng("pos", "members", self.scope.label("all"))
        n = cards.height
        format_weights = self.vocabulary.habits["birthday_formats"]["pos"]
        formats = list(format_weights)
        birthday_format = choice_index(rng, np.array(list(format_weights.values()), dtype=float), n)
        birthday = pl.lit(None, dtype=pl.String)
        for i, pattern in enumerate(formats):
            birthday = (
                pl.when(pl.lit(pl.Series(birthday_format == i)))
                .then(pl.col("birth_date").dt.strftime(pattern))
                .otherwise(birthday)
            )
        chinese_gender = pl.lit(pl.Series(rng.random(n) < self.vocabulary.share("till_gender_in_chinese")))
        gender = (
            pl.when(pl.col("gender") == "F")
            .then(pl.when(chinese_gender).then(pl.lit("女")).otherwise(pl.lit("F")))
            .when(pl.col("gender") == "M")
            .then(pl.when(chinese_gender).then(pl.lit("男")).otherwise(pl.lit("M")))
        )
        show_member = pl.lit(pl.Series(rng.random(n) >= self.settings.noise.member_no_blank))
        members = (
            cards.join(
                member_ids,
                left_on="linked_member_rkey",
                right_on="member_rkey",
                how="left",
                maintain_order="left",
            )
            .join(
                self.stores.select("store_idx", "store_id", "legacy"),
                on="store_idx",
                how="left",
                maintain_order="left",
            )
            .select(
                "store_id",
                "legacy",
                card_no="record_key",
                member_no=pl.when(show_member).then("member").otherwise(None),
                name="name_full",
                mobile="phone_text",
                gender=gender,
                birthday=birthday,
                email="email",
                registered_at=local_time(pl.col("created_at")),
            )
        )
        for (store_id, legacy), part in members.partition_by(
            "store_id", "legacy", as_dict=True, maintain_order=True
        ).items():
            rel = f"{_store_dir(str(store_id), bool(legacy))}/members.csv"
            frame = part.select(
                "card_no",
                "member_no",
                "name",
                "mobile",
                "gender",
                "birthday",
                "email",
                "store_id",
                "registered_at",
            )
            self.out.csv(
                frame, rel, "pos", "members", "card_no", [("birthday", "unparseable_date")] if not self.scope.append else [],
                **_till_encoding(bool(legacy)), append=self.scope.append, soft=SOFT,
            )  # fmt: skip
        self._pos_tickets()

    def _pos_tickets(self) -> None:
        catalog = self.vocabulary.catalog
        cards = self.record_keys("pos", "card_no")
        store_ids, legacy = self.stores["store_id"], self.stores["legacy"].to_list()
        directories = [_store_dir(store, old) for store, old in zip(store_ids.to_list(), legacy, strict=True)]
        # files of a month are written in path order; a store's rank is its directory's place in it
        by_path = np.argsort(np.array(directories, dtype=object), kind="stable")
        rank = np.empty(len(directories), dtype=np.int64)
        rank[by_path] = np.arange(len(directories))
        duplicated = []
        for period in self.scope.months("pos_lines"):
            time = "sold_at" if self.scope.day_label else "export_at"
            lines = self.scope.rows("pos_lines", period, time).collect()
            if lines.height == 0:
                continue
            numbers = load_keys(self.scope.keys, "pos_tickets", self.previous_months(period))
            frame = (
                lines.join(numbers, on="okey", how="left")
                .join(cards, left_on="card_rkey", right_on="card_no_rkey", how="left")
                .with_columns(_file=pl.lit(pl.Series(rank)).gather(pl.col("store_idx")))
                .sort("_file", "export_at", "ticket_no", "copy", "line_no")
            )
            duplicated.append(
                frame.filter((pl.col("line_no") == 1) & (pl.col("copies") > 1)).select("ticket_no", "copy")
            )
            sku = pl.col("sku_idx").cast(pl.UInt32)
            tickets = frame.select(
                "_file",
                "ticket_no",
                store_id=pl.lit(store_ids).gather(pl.col("store_idx")),
                card_no="card_no",
                sold_at=local_time(pl.col("sold_at")),
                line_no="line_no",
                sku=pl.lit(catalog["sku"]).gather(sku),
                item_name=pl.lit(catalog["item_name"]).gather(sku),
                category=pl.lit(catalog["category"]).gather(sku),
                qty="qty",
                unit_price=money(pl.col("unit_price_cents"), thousands=True),
                line_amount=money(pl.col("line_amount_cents"), thousands=True),
                payment_method="payment",
                _duplicated=pl.col("copies") > 1,
            )
            label = self.scope.label(period)
            files = [f"{directories[i]}/tickets_{label}.csv" for i in by_path]
            tickets = self.out.inject(
                tickets, f"landing/pos/tickets_{label}", "pos", "tickets", "ticket_no",
                [("sold_at", "unparseable_date"), ("unit_price", "bad_number"), ("line_amount", "bad_number"),
                 ("ticket_no", "missing_key")],
                file_column="_file", file_names=files, protect="_duplicated",
            )  # fmt: skip
            for (file,), part in tickets.partition_by("_file", as_dict=True, maintain_order=True).items():
                self.out.csv(
                    part.drop("_file", "_duplicated"), files[file], "pos", "tickets", "ticket_no",
                    **_till_encoding(legacy[by_path[file]]),
                )  # fmt: skip
        if duplicated:
            exported = (
                pl.concat(duplicated).group_by("ticket_no").agg(copies=pl.len()).filter(pl.col("copies") > 1)
            )
            self.out.duplicate("pos", "tickets", exported.rename({"ticket_no": "record_key"}))

    # --- ecom ------------------------------------------------------------------------------------
    def ecom(self) -> None:
        accounts = self.records("ecom")
        hi = self.scope.hi - 1
        address = pl.struct(
            address1=pl.concat_str(["district", "street_line"], ignore_nulls=True),
            address2="unit_line",
            city="city",
            province="province",
            zip="postcode",
            country_code=pl.lit("CN"),
        )
        customers = accounts.select(
            id=pl.col("record_key").cast(pl.Int64),
            email="email",
            first_name="name_given",
            last_name="name_family",
            phone="phone_text",
            created_at=iso_local(pl.col("created_at")),
            updated_at=iso_local(pl.min_horizontal(pl.col("created_at") + pl.col("updated_after"), hi)),
            accepts_marketing="accepts_marketing",
            accepts_marketing_updated_at=iso_local(
                pl.min_horizontal(pl.col("created_at") + pl.col("marketing_changed_after"), hi)
            ),
            birthday=pl.col("birth_date").dt.strftime("%Y-%m-%d"),
            gender=pl.col("gender").replace_strict({"F": "female", "M": "male"}, default=None),
            device_id="device_1",
            default_address=pl.when(
                pl.col("street_line").is_null() & pl.col("postcode").is_null() & pl.col("district").is_null()
            )
            .then(None)
            .otherwise(address),
        )
        self.out.jsonl(
            customers, "landing/ecom/customers.jsonl", "ecom", "customers", "id",
            [("birthday", "unparseable_date")] if not self.scope.append else [], append=self.scope.append, soft=SOFT,
        )  # fmt: skip
        self._orders()
        self._events()

    def _orders(self) -> None:
        catalog = self.vocabulary.catalog
        account_ids = self.record_keys("ecom", "customer_id")
        cutoff = self.scope.hi - 1
        for period in self.scope.months("ecom_orders"):
            orders = self.scope.rows("ecom_orders", period, "created_at").collect()
            if orders.height == 0:
                continue
            numbers = load_keys(self.scope.keys, "ecom_orders", [period])
            frame = (
                orders.join(numbers, on="okey", how="left")
                .join(account_ids, left_on="account_rkey", right_on="customer_id_rkey", how="left")
                .sort("created_at", "seq")
            )
            lines = (
                self.scope.rows("ecom_lines", period, "created_at")
                .collect()
                .join(frame.select("okey", position=pl.int_range(pl.len())), on="okey")
                .sort("position", "line_no")
            )
            sku = lines["sku_idx"].cast(pl.UInt32)
            line_items = nest(
                lines.select(
                    id="line_no", sku=catalog["sku"].gather(sku), title=catalog["item_name"].gather(sku),
                    category=catalog["category"].gather(sku), quantity="qty", price=money(pl.col("unit_price_cents")),
                ),
                np.bincount(lines["position"].to_numpy(), minlength=frame.height),
                "line_items",
            )  # fmt: skip
            history = _status_history(frame, cutoff)
            out = frame.select(
                id=pl.col("seq") + ORDER_BASE,
                name=pl.format("#{}", (pl.col("seq") + ORDER_NAME_BASE).cast(pl.String)),
                customer_id=pl.col("customer_id").cast(pl.Int64),
                email="email",
                phone="phone",
                created_at=iso_local(pl.col("created_at")),
                updated_at=iso_local(pl.lit(history["updated_at"])),
                currency=pl.lit("CNY"),
                total_price=money(pl.col("total_cents")),
                payment_gateway="payment_gateway",
                status=pl.lit(history["status"]),
                status_history=pl.lit(history["status_history"]),
                shipping_address=pl.struct(
                    name="ship_name", address1="ship_address1", address2="ship_address2", city="ship_city",
                    province="ship_province", zip="ship_zip", country_code=pl.lit("CN"), phone="ship_phone",
                ),
                line_items=pl.lit(line_items),
            )  # fmt: skip
            self.out.jsonl(
                out, f"landing/ecom/orders/orders_{self.scope.label(period)}.jsonl", "ecom", "orders", "id",
                [("created_at", "unparseable_date"), ("total_price", "bad_number"), ("id", "missing_key")],
            )  # fmt: skip

    def _events(self) -> None:
        catalog = self.catalog().select("sku_idx", "sku")
        account_ids = self.record_keys("ecom", "customer_id")
        duplicated = []
        for period in self.scope.months("ecom_events"):
            events = self.scope.rows("ecom_events", period, "ts").collect()
            if events.height == 0:
                continue
            frame = (
                events.join(account_ids, left_on="account_rkey", right_on="customer_id_rkey", how="left")
                .join(catalog, on="sku_idx", how="left")
                .sort("ts", "event_id", "copy")
            )
            duplicated.append(
                frame.filter(pl.col("copy") > 0).select(
                    record_key="event_id", copies=pl.col("copy").cast(pl.Int64) + 1
                )
            )
            out = frame.select(
                "event_id",
                "event_type",
                customer_id=pl.col("customer_id").cast(pl.Int64),
                device_id="device_id",
                session_id="session_id",
                sku="sku",
                channel="channel",
                ts=iso_local(pl.col("ts")),
                _duplicated=pl.col("copies") > 1,
            )
            self.out.jsonl(
                out, f"landing/ecom/events/events_{self.scope.label(period)}.jsonl", "ecom", "events", "event_id",
                [("ts", "unparseable_date"), ("event_id", "missing_key")], protect="_duplicated",
            )  # fmt: skip
        if duplicated:
            self.out.duplicate("ecom", "events", pl.concat(duplicated))

    # --- social ----------------------------------------------------------------------------------
    def social(self) -> None:
        profiles = self.records("social")
        out = profiles.select(
            "platform",
            "handle",
            "display_name",
            "bio",
            email="email",
            phone="phone_text",
            followers="followers",
            created_at=iso_local(pl.col("created_at")),
        )
        self.out.jsonl(
            out, "landing/social/profiles.jsonl", "social", "profiles", "handle", append=self.scope.append
        )
        handles = pl.read_parquet(self.scope.keys / "records.parquet").filter(pl.col("source") == "social")
        handles = handles.select(profile_rkey="rkey", handle="handle").join(
            spool.scan(self.scope.spool, "records")
            .filter(pl.col("source") == "social")
            .select(profile_rkey="rkey", platform="platform")
            .collect(),
            on="profile_rkey",
        )
        for period in self.scope.months("social_posts"):
            posts = self.scope.rows("social_posts", period, "created_at").collect()
            if posts.height == 0:
                continue
            frame = posts.join(handles, on="profile_rkey", how="left").sort("created_at", "post_id")
            out = frame.select(
                "post_id", "platform", "handle", "type", "parent_post_id", "text",
                created_at=iso_local(pl.col("created_at")), likes="likes",
            )  # fmt: skip
            self.out.jsonl(
                out, f"landing/social/posts/posts_{self.scope.label(period)}.jsonl", "social", "posts", "post_id",
                [("created_at", "unparseable_date"), ("post_id", "missing_key")],
            )  # fmt: skip

    # --- service ---------------------------------------------------------------------------------
    def service(self) -> None:
        requesters = self.record_keys("service", "requester_id")
        cutoff = self.scope.hi - 1
        for period in self.scope.months("service_tickets"):
            tickets = self.scope.rows("service_tickets", period, "created_at").collect()
            if tickets.height == 0:
                continue
            numbers = load_keys(self.scope.keys, "service_tickets", [period])
            frame = (
                tickets.join(numbers, on="tkey", how="left")
                .join(requesters, left_on="requester_rkey", right_on="requester_id_rkey", how="left")
                .sort("created_at", "seq")
            )
            responded = (pl.col("first_response_at") >= 0) & (pl.col("first_response_at") <= cutoff)
            resolved = (pl.col("resolved_at") >= 0) & (pl.col("resolved_at") <= cutoff)
            out = frame.select(
                ticket_id=pl.format("T{}", (pl.col("seq") + 1).cast(pl.String).str.zfill(9)),
                requester_id="requester_id",
                requester_name="requester_name",
                requester_email="requester_email",
                requester_phone="requester_phone",
                channel="channel",
                priority="priority",
                status=pl.when(resolved)
                .then(pl.lit("confirmed"))
                .when(responded)
                .then(pl.lit("in_progress"))
                .otherwise(pl.lit("logged")),
                subject="subject",
                product_serial="product_serial",
                created_at=local_time(pl.col("created_at")),
                first_response_at=pl.when(responded).then(local_time(pl.col("first_response_at"))),
                resolved_at=pl.when(resolved).then(local_time(pl.col("resolved_at"))),
                contacts="contacts",
                csat=pl.when(resolved & (pl.col("csat") > 0)).then(pl.col("csat")),
            )
            self.out.csv(
                out, f"landing/service/tickets_{self.scope.label(period)}.csv", "service", "tickets", "ticket_id",
                [("created_at", "unparseable_date"), ("ticket_id", "missing_key")],
            )  # fmt: skip

    # --- loyalty ---------------------------------------------------------------------------------
    def loyalty(self) -> None:
        members = self.records("loyalty")
        hi = self.scope.hi - 1
        table = members.select(
            member_id="record_key",
            full_name="name_full",
            mobile="phone_text",
            email="email",
            birth_date=pl.col("birth_date").dt.strftime("%Y-%m-%d"),
            gender="gender",
            national_id="national_id",
            tier="tier",
            enrolled_at=local_time(pl.col("created_at")),
            address=pl.concat_str(["district", "street_line", "unit_line"], ignore_nulls=True).replace(
                "", None
            ),
            city="city",
            province="province",
            postcode="postcode",
            consent_email="consent_email",
            consent_sms="consent_sms",
            consent_wechat="consent_wechat",
            consent_profiling="consent_profiling",
            consent_updated_at=local_time(pl.min_horizontal("consent_updated_at", hi)),
        ).sort("member_id")
        table = self.out.inject(table, "landing/loyalty/loyalty.sqlite", "loyalty", "members", "member_id",
                                [("birth_date", "unparseable_date")] if not self.scope.append else [], soft=SOFT)  # fmt: skip
        path = self.out.root / "landing/loyalty/loyalty.sqlite"
        write_sqlite(path, "members", MEMBERS_DDL, [table], append=self.scope.append)
        self.out.wrote("landing/loyalty/loyalty.sqlite", "loyalty", "members", table.height)
        self._points()
        if not self.scope.append:
            self._coupons()

    def _order_refs(self, months: list[str], wanted: pl.Series | None = None) -> pl.DataFrame:
        """okey -> the order reference a ledger shows: till ticket number or web order name."""
        tickets = load_keys(self.scope.keys, "pos_tickets", months, wanted)
        orders = load_keys(self.scope.keys, "ecom_orders", months, wanted)
        parts = []
        if tickets.height:
            parts.append(tickets.select("okey", order_ref="ticket_no"))
        if orders.height:
            parts.append(
                orders.select(
                    "okey", order_ref=pl.format("#{}", (pl.col("seq") + ORDER_NAME_BASE).cast(pl.String))
                )
            )
        return pl.concat(parts) if parts else pl.DataFrame(schema={"okey": pl.Int64, "order_ref": pl.String})

    def _points(self) -> None:
        members = self.record_keys("loyalty", "member_id")
        stores = self.stores.select("store_idx", "store_id")
        for period in self.scope.months("loyalty_points"):
            entries = self.scope.rows("loyalty_points", period, "occurred_at").collect()
            if entries.height == 0:
                continue
            numbers = load_keys(self.scope.keys, "loyalty_points", [period])
            refs = self._order_refs(self.previous_months(period))
            frame = (
                entries.join(numbers, on="lkey", how="left")
                .join(members, left_on="member_rkey", right_on="member_id_rkey", how="left")
                .join(refs, left_on="order_okey", right_on="okey", how="left")
                .join(stores, on="store_idx", how="left")
                .sort("occurred_at", "seq")
            )
            out = frame.select(
                entry_id=pl.format("PT{}", (pl.col("seq") + 1).cast(pl.String).str.zfill(10)),
                member_id="member_id",
                occurred_at=local_time(pl.col("occurred_at")),
                entry_type="entry_type",
                points="points",
                order_ref="order_ref",
                store_id="store_id",
            )
            self.out.csv(
                out, f"landing/loyalty/points/points_{self.scope.label(period)}.csv", "loyalty", "points", "entry_id",
                [("occurred_at", "unparseable_date"), ("points", "bad_number"), ("entry_id", "missing_key")],
            )  # fmt: skip

    def _coupons(self) -> None:
        coupons = (
            spool.scan(self.scope.spool, "loyalty_coupons")
            .filter(pl.col("issued_at") < self.scope.hi)
            .collect()
        )
        numbers = coupons.sort("issued_at", "ckey").select("ckey", seq=pl.int_range(pl.len(), dtype=pl.Int64))
        months = sorted(
            set(spool.months(self.scope.spool, "pos_lines"))
            | set(spool.months(self.scope.spool, "ecom_orders"))
        )
        refs = self._order_refs(months, coupons.filter(pl.col("order_okey") >= 0)["order_okey"])
        members = self.record_keys("loyalty", "member_id")
        redeemed = pl.col("redeemed_at").is_not_null() & (pl.col("redeemed_at") < self.scope.hi)
        frame = (
            coupons.join(numbers, on="ckey")
            .join(members, left_on="member_rkey", right_on="member_id_rkey", how="left")
            .join(refs, left_on="order_okey", right_on="okey", how="left")
            .sort("seq")
        )
        out = frame.select(
            coupon_id=pl.format("CP{}", (pl.col("seq") + 1).cast(pl.String).str.zfill(9)),
            member_id="member_id",
            campaign="campaign",
            value=money(pl.col("value_cents")),
            issued_at=local_time(pl.col("issued_at")),
            expires_at=local_time(pl.col("expires_at")),
            redeemed_at=pl.when(redeemed).then(local_time(pl.col("redeemed_at"))),
            order_ref=pl.when(redeemed).then("order_ref"),
        )
        self.out.csv(out, "landing/loyalty/coupons.csv", "loyalty", "coupons", "coupon_id",
                     [("issued_at", "unparseable_date"), ("value", "bad_number")])  # fmt: skip

    # --- survey ----------------------------------------------------------------------------------
    def survey(self) -> None:
        responses = self.records("survey")
        if responses.height == 0:
            return
        when = pl.from_epoch("created_at", time_unit="s")
        frame = responses.with_columns(quarter=pl.format("{}-Q{}", when.dt.year(), when.dt.quarter())).sort(
            "record_key"
        )
        for (quarter,), part in frame.partition_by("quarter", as_dict=True, maintain_order=True).items():
            rel = f"landing/survey/responses_{quarter}.xlsx"
            sheet = part.select(
                response_id="record_key",
                submitted_at=local_time(pl.col("created_at")),
                respondent_name="name_full",
                email="email",
                phone="phone_text",
                nps="nps",
                csat="csat",
                touchpoint="touchpoint",
                comment="comment",
            )
            sheet = self.out.inject(
                sheet, rel, "survey", "responses", "response_id", [("submitted_at", "unparseable_date")]
            )
            sheets = {"responses": sheet}
            if (
                self.rng("survey", str(quarter)).random()
                < self.settings.engagement.survey_summary_sheet_share
            ):
                sheets["summary"] = _survey_summary(part)
            write_xlsx(sheets, self.out.root / rel)
            self.out.wrote(rel, "survey", "responses", sheet.height)


MEMBERS_DDL = """
CREATE TABLE members (
    member_id TEXT PRIMARY KEY,
    full_name TEXT,
    mobile TEXT,
    email TEXT,
    birth_date TEXT,
    gender TEXT,
    national_id TEXT,
    tier TEXT,
    enrolled_at TEXT,
    address TEXT,
    city TEXT,
    province TEXT,
    postcode TEXT,
    consent_email INTEGER,
    consent_sms INTEGER,
    consent_wechat INTEGER,
    consent_profiling INTEGER,
    consent_updated_at TEXT
)
"""


def _store_dir(store_id: str, legacy: bool) -> str:
    return f"landing/pos/{'legacy' if legacy else 'stores'}/{store_id}"


def _till_encoding(legacy: bool) -> dict[str, str]:
    return {"encoding": LEGACY_ENCODING, "line_terminator": LEGACY_LINE_END} if legacy else {}


def _survey_summary(part: pl.DataFrame) -> pl.DataFrame:
    """The sheet survey tools add for managers: counts and scores per touchpoint (to be ignored)."""
    return (
        part.group_by("touchpoint")
        .agg(
            responses=pl.len(),
            nps=((pl.col("nps") >= 9).mean() - (pl.col("nps") <= 6).mean()) * 100,
            avg_csat=pl.col("csat").mean(),
        )
        .sort("touchpoint")
        .with_columns(pl.col("nps").round(1), pl.col("avg_csat").round(2))
    )


def _status_history(orders: pl.DataFrame, cutoff: int) -> pl.DataFrame:
    """status_history (the steps up to `cutoff`, times as text), status (the last) and updated_at.

    Steps are spooled flat (`status_<i>`, `at_<i>`, -1 for no step); a step later than the export
    is not known yet, so it is left out.
    """
    status = np.column_stack([orders[f"status_{i}"].to_numpy() for i in range(STEPS)])
    at = np.column_stack([orders[f"at_{i}"].to_numpy() for i in range(STEPS)])
    known = (status >= 0) & (at <= cutoff)
    last = STEPS - 1 - np.argmax(known[:, ::-1], axis=1)
    rows = np.arange(orders.height)
    labels = pl.Series(STATUS, dtype=pl.String)
    steps = pl.DataFrame({"status": labels.gather(status[known].astype(np.uint32)), "at": at[known]}).select(
        "status", at=iso_local(pl.col("at"))
    )
    return pl.DataFrame(
        {
            "status_history": nest(steps, known.sum(axis=1), "status_history"),
            "status": labels.gather(status[rows, last].astype(np.uint32)),
            "updated_at": np.where(known, at, np.iinfo(np.int64).min).max(axis=1),
        }
    )
