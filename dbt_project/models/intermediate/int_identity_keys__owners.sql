{#- The customer each identity key that facts attach customers by belongs to: a source record (the
    customer it resolved to) and a device (the one customer all of its records belong to; none
    while several share it).
    Incremental on DuckDB (macros/incremental.sql): a daily build rewrites only the keys whose
    owner changed (a merge, a split, a new record, a device seen on a second customer), and a key
    that loses its owner keeps its row without a customer. So `_built_at` names every key whose
    owner changed since a fact was built, and the facts rebuild just those keys' rows instead of
    looking up the owner of each row they hold (21M events and 10M orders at 1M people). -#}
{{ config(cdp.fact_config(['key_type', 'key_value'], none)) }}
with

records as (
    select record_id, customer_id, device_id
    from {{ ref('int_customer_records__linked') }}
),

owners as (
    select
        'record' as key_type,
        record_id as key_value,
        customer_id
    from records
    union all
    select
        'device' as key_type,
        device_id as key_value,
        min(customer_id) as customer_id
    from records
    where device_id is not null
    group by device_id
    having count(distinct customer_id) = 1
),

{% if cdp.incremental_fact() %}
changed as (
    -- keys with a new, another or no owner (a key gone from `owners` keeps its row, customer null)
    select
        coalesce(owners.key_type, built.key_type) as key_type,
        coalesce(owners.key_value, built.key_value) as key_value,
        owners.customer_id
    from owners
    full outer join {{ this }} as built
        on owners.key_type = built.key_type
        and owners.key_value = built.key_value
    where owners.customer_id is distinct from built.customer_id
),
{% endif %}

final as (
    select
        -- ids
        key_type,
        key_value,
        customer_id,
        -- lineage
        {{ cdp.run_started() }} as _built_at
    from {{ 'changed' if cdp.incremental_fact() else 'owners' }}
)

select * from final
