{#- One row per customer with a fingerprint of what the customer marts compute their rows from:
    their linked source records known on the as-of date (identity: merges, splits, new records, a
    record the as-of date reached) and their purchases up to it (new, corrected, re-keyed or gone
    orders). Incremental on DuckDB (macros/incremental.sql): a daily
    build rewrites only the rows whose fingerprint changed, so their `_built_at` tells the
    incremental customer marts which customers to rebuild; customers gone from the identity
    links lose their row. -#}
{{ config(cdp.fact_config('customer_id', 'stg_identity__identity_links')) }}
{%- set fingerprint_columns = ['is_golden', 'records_hash', 'purchases_hash'] -%}
with

golden as (
    select customer_id from {{ ref('stg_identity__golden_customer') }}
),

as_of as (
    select as_of_date from {{ ref('int_calendar__as_of') }}
),

records as (
    -- the records known on the as-of date (as the purchases are those up to it): a customer first
    -- recorded later changes fingerprint, and so is rebuilt, on the day the as-of reaches that record
    select
        linked.customer_id,
        {{ cdp.set_hash(['linked.record_id', 'linked.created_at']) }} as records_hash
    from {{ ref('int_customer_records__linked') }} as linked
    cross join as_of
    where linked.created_at is null
        or cast(linked.created_at as date) <= as_of.as_of_date
    group by linked.customer_id
),

purchases as (
    select
        customer_id,
        {{ cdp.set_hash(['order_id', 'order_date', 'channel', 'amount']) }} as purchases_hash
    from {{ ref('int_orders__purchases') }}
    group by customer_id
),

fingerprinted as (
    select
        coalesce(golden.customer_id, records.customer_id, purchases.customer_id) as customer_id,
        golden.customer_id is not null as is_golden,
        records.records_hash,
        purchases.purchases_hash
    from golden
    full outer join records
        on golden.customer_id = records.customer_id
    full outer join purchases
        on coalesce(golden.customer_id, records.customer_id) = purchases.customer_id
),

{% if cdp.incremental_fact() %}
changed as (
    select distinct customer_id
    from ({{ cdp.changed_keys('fingerprinted', this, 'customer_id', fingerprint_columns) }}) as differing
),
{% endif %}

final as (
    select
        *,
        -- lineage
        {{ cdp.run_started() }} as _built_at
    from ({{ cdp.rows_to_build('fingerprinted', 'changed', 'customer_id') }}) as rebuilt
)

select * from final
