{#- The one date every mart is computed as of: cdp.yaml `marts.as_of_date`, else the latest order
    date in the data, so re-running on the same data gives the same marts whatever the clock says. -#}
{%- set configured = setting('as_of_date') -%}

with

orders as (
    select order_date from {{ ref('stg_silver__orders') }}
),

final as (
    {#- distinct: one row however many orders (a configured date is the same on every one) -#}
    select {{ 'distinct' if configured }}
        {% if configured -%}
        cast('{{ configured }}' as date) as as_of_date,
        {%- else -%}
        max(order_date) as as_of_date,
        {%- endif %}
        {{ "'configured'" if configured else "'latest_order_date'" }} as as_of_rule
    from orders
)

select * from final
