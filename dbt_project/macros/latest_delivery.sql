{#- Two CTEs for the with-list: `<relation>__redelivered` (keys delivered more than once) and
    `ranked`: the rows of `relation` (a CTE name) with `delivery_rank` = 1 for the delivery of each
    `keys` that wins by `order_by` (keep `where ranked.delivery_rank = 1`). Only keys delivered
    more than once go through the row_number() window; the others pass an anti-join with rank 1:
    a window over every row would hold all of them at once (at 1M people: 10M orders, 25M lines,
    wide rows) for the rare key that repeats. Portable SQL (DuckDB and Spark). -#}
{% macro latest_delivery(relation, keys, order_by) -%}
    {%- set redelivered = relation ~ '__redelivered' -%}
    {%- set on = [] -%}
    {%- for key in keys -%}
        {%- do on.append(relation ~ '.' ~ key ~ ' = ' ~ redelivered ~ '.' ~ key) -%}
    {%- endfor -%}
{{ redelivered }} as (
    select {{ keys | join(', ') }}
    from {{ relation }}
    group by {{ keys | join(', ') }}
    having count(*) > 1
),

ranked as (
    select
        {{ relation }}.*,
        1 as delivery_rank
    from {{ relation }}
    left join {{ redelivered }}
        on {{ on | join(' and ') }}
    where {{ redelivered }}.{{ keys[0] }} is null
    union all
    select
        {{ relation }}.*,
        row_number() over (
            partition by {% for key in keys %}{{ relation }}.{{ key }}{{ ', ' if not loop.last }}{% endfor %}
            order by {{ order_by }}
        ) as delivery_rank
    from {{ relation }}
    inner join {{ redelivered }}
        on {{ on | join(' and ') }}
)
{%- endmacro %}
