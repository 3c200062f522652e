{#- `order_number` is optional: silver written before it existed has no such column (read as null;
    the next standardize rebuilds such a table in full). -#}
{%- set orders = lake_source('silver', 'orders') -%}
{%- set has_order_number = not execute
    or 'order_number' in adapter.get_columns_in_relation(orders) | map(attribute='name') | map('lower') | list -%}

with

source as (
    select * from {{ orders }}
),

renamed as (
    select
        -- ids
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(source as {{ dbt.type_string() }}) as source,
        cast(source_order_id as {{ dbt.type_string() }}) as source_order_id,
        cast({{ 'order_number' if has_order_number else 'null' }} as {{ dbt.type_string() }}) as order_number,
        cast(record_id as {{ dbt.type_string() }}) as record_id,
        cast(store_id as {{ dbt.type_string() }}) as store_id,
        -- attributes
        cast(channel as {{ dbt.type_string() }}) as channel,
        cast(status as {{ dbt.type_string() }}) as status,
        cast(status_path as {{ dbt.type_string() }}) as status_path,
        cast(status_path_valid as boolean) as status_path_valid,
        cast(currency as {{ dbt.type_string() }}) as currency,
        cast(payment_method as {{ dbt.type_string() }}) as payment_method,
        -- amounts
        cast(total_amount as decimal(18, 2)) as total_amount,
        cast(item_count as bigint) as item_count,
        -- dates
        cast(ordered_at as timestamp) as ordered_at,
        cast(order_date as date) as order_date,
        -- lineage
        cast(_batch_id as {{ dbt.type_string() }}) as batch_id
    from source
)

select * from renamed
