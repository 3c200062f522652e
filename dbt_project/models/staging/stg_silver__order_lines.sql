with

source as (
    select * from {{ lake_source('silver', 'order_lines') }}
),

renamed as (
    select
        -- ids
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(line_no as bigint) as line_no,
        cast(sku as {{ dbt.type_string() }}) as sku,
        -- product
        cast(product_name as {{ dbt.type_string() }}) as product_name,
        cast(category as {{ dbt.type_string() }}) as category,
        -- amounts
        cast(quantity as bigint) as quantity,
        cast(unit_price as decimal(18, 2)) as unit_price,
        cast(line_amount as decimal(18, 2)) as line_amount
    from source
)

select * from renamed
