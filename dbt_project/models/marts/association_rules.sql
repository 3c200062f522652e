{#- "Bought together" rules from purchase baskets at the `activation.cross_sell.level` (category or
    sku): support = P(A and B), confidence = P(B | A), lift = confidence / P(B). Only rules over
    every minimum in `activation.cross_sell` are kept.
    A daily run on DuckDB keeps the rules of the last build until the purchase lines grew by
    `activation.cross_sell.rebuild_min_growth` since (macros/incremental.sql, kept_mart_config). -#}
{%- set cross_sell = setting('activation.cross_sell', {}) -%}
{{ config(cdp.kept_mart_config('fct_order_lines', 'is_purchase', cross_sell.rebuild_min_growth or 0)) }}
{%- set item = 'lines.' ~ (cross_sell.level or 'category') -%}

with

lines as (
    -- fct_order_lines already carries each line's order date and purchase flag: a filter, not a
    -- second join of every line with every order
    select * from {{ ref('fct_order_lines') }}
    where is_purchase
        and order_date <= (select as_of_date from {{ ref('int_calendar__as_of') }})
),

baskets as (
    select distinct
        lines.order_id,
        {{ item }} as item
    from lines
    where {{ item }} is not null
),

basket_count as (
    select count(distinct order_id) as baskets from baskets
),

item_counts as (
    select
        item,
        count(*) as orders_with_item
    from baskets
    group by item
),

pairs as (
    select
        antecedent.item as antecedent,
        consequent.item as consequent,
        count(*) as orders_with_both
    from baskets as antecedent
    inner join baskets as consequent
        on antecedent.order_id = consequent.order_id
        and antecedent.item <> consequent.item
    group by antecedent.item, consequent.item
),

measured as (
    select
        pairs.antecedent,
        pairs.consequent,
        pairs.orders_with_both,
        antecedent_counts.orders_with_item as antecedent_orders,
        consequent_counts.orders_with_item as consequent_orders,
        basket_count.baskets,
        cast(pairs.orders_with_both as double) / basket_count.baskets as support,
        cast(pairs.orders_with_both as double) / antecedent_counts.orders_with_item as confidence,
        (cast(pairs.orders_with_both as double) / antecedent_counts.orders_with_item)
        / (cast(consequent_counts.orders_with_item as double) / basket_count.baskets) as lift
    from pairs
    inner join item_counts as antecedent_counts
        on pairs.antecedent = antecedent_counts.item
    inner join item_counts as consequent_counts
        on pairs.consequent = consequent_counts.item
    cross join basket_count
)

select
    antecedent || ' -> ' || consequent as rule_id,
    '{{ cross_sell.level or "category" }}' as item_level,
    measured.*
from measured
where orders_with_both >= {{ cross_sell.min_orders or 1 }}
    and support >= {{ cross_sell.min_support or 0 }}
    and confidence >= {{ cross_sell.min_confidence or 0 }}
    and lift >= {{ cross_sell.min_lift or 0 }}
{%- if cdp.keep_mart('fct_order_lines', 'is_purchase', cross_sell.rebuild_min_growth or 0) %}
    and false  -- kept as the last build left it
{%- endif %}
