{#- Quintile scores 1-5 that give tied customers the same score: a customer's score is
    1 + floor(5 * (rank - 1) / customers), ranking from worst to best (oldest purchase, fewest
    orders, least spend first). Segments: the first `rfm.segments` rule whose recency and
    frequency score ranges both match. -#}
{%- set segments = setting('rfm.segments', []) -%}

with

summary as (
    select * from {{ ref('int_customers__purchase_summary') }}
),

ranked as (
    select
        customer_id,
        recency_days,
        purchase_orders as frequency,
        total_spend as monetary,
        rank() over (order by recency_days desc) as recency_rank,
        rank() over (order by purchase_orders) as frequency_rank,
        rank() over (order by total_spend) as monetary_rank,
        count(*) over () as customers,
        as_of_date
    from summary
),

scored as (
    select
        customer_id,
        recency_days,
        frequency,
        monetary,
        cast(1 + floor(5.0 * (recency_rank - 1) / customers) as integer) as recency_score,
        cast(1 + floor(5.0 * (frequency_rank - 1) / customers) as integer) as frequency_score,
        cast(1 + floor(5.0 * (monetary_rank - 1) / customers) as integer) as monetary_score,
        as_of_date
    from ranked
),

final as (
    select
        customer_id,
        -- raw values
        recency_days,
        frequency,
        monetary,
        -- scores
        recency_score,
        frequency_score,
        monetary_score,
        cast(recency_score as {{ dbt.type_string() }})
        || cast(frequency_score as {{ dbt.type_string() }})
        || cast(monetary_score as {{ dbt.type_string() }}) as rfm_code,
        case
            {%- for segment in segments %}
            when recency_score between {{ segment.recency.min }} and {{ segment.recency.max }}
                and frequency_score between {{ segment.frequency.min }} and {{ segment.frequency.max }}
                then '{{ segment.name }}'
            {%- endfor %}
            else '{{ setting("rfm.default_segment", "others") }}'
        end as rfm_segment,
        as_of_date
    from scored
)

select * from final
