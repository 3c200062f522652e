with

lines as (
    select * from {{ ref('stg_silver__order_lines') }}
),

ranked as (
    select
        lines.*,
        row_number() over (
            partition by order_id, line_no
            order by line_amount desc, sku
        ) as delivery_rank
    from lines
),

final as (
    select
        order_id,
        line_no,
        sku,
        product_name,
        category,
        quantity,
        unit_price,
        line_amount
    from ranked
    where delivery_rank = 1
)

select * from final
