{#- Conversion (any purchase within the conversion window from the start date, up to the as-of
    date) and revenue per campaign arm, with `experiments.confidence_level` intervals: Wilson for
    the conversion rate, normal for revenue per customer, and the difference of each arm's
    conversion rate to the control arm's. Every bound stays within what its quantity can be: a rate
    in 0..1, exactly 0 below no converter and 1 above all (the formula left floating-point dust
    there: +-3e-17, a lower bound above a rate of 0), revenue per customer from 0 (the normal
    interval of a small arm reaches below it), an uplift in -1..1. -#}
{%- set campaigns = setting('experiments.campaigns', []) -%}
{%- set z = setting('experiments.z', 1.959964) -%}

{%- if campaigns | length == 0 %}

select
    cast(null as {{ dbt.type_string() }}) as campaign_id,
    cast(null as {{ dbt.type_string() }}) as arm,
    cast(null as boolean) as is_control,
    cast(null as bigint) as customers,
    cast(null as bigint) as converters,
    cast(null as double) as conversion_rate,
    cast(null as double) as conversion_rate_ci_low,
    cast(null as double) as conversion_rate_ci_high,
    cast(null as decimal(18, 2)) as revenue,
    cast(null as double) as revenue_per_customer,
    cast(null as double) as revenue_per_customer_ci_low,
    cast(null as double) as revenue_per_customer_ci_high,
    cast(null as double) as uplift_vs_control,
    cast(null as double) as uplift_ci_low,
    cast(null as double) as uplift_ci_high,
    cast(null as date) as window_ends_on,
    cast(null as boolean) as window_complete,
    cast(null as date) as as_of_date
where 1 = 0

{%- else %}

with

windows as (
    {%- for campaign in campaigns %}
    select
        '{{ campaign.id }}' as campaign_id,
        '{{ campaign.control_arm }}' as control_arm,
        {{ add_days("cast('" ~ campaign.starts_on ~ "' as date)", campaign.conversion_window_days) }} as window_ends_on
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

assignments as (
    select * from {{ ref('ab_assignments') }}
),

purchases as (
    select * from {{ ref('int_orders__purchases') }}
),

as_of as (
    select as_of_date from {{ ref('int_calendar__as_of') }}
),

per_customer as (
    select
        assignments.campaign_id,
        assignments.arm,
        assignments.customer_id,
        case when count(purchases.order_id) > 0 then 1 else 0 end as converted,
        coalesce(sum(purchases.amount), 0) as revenue
    from assignments
    inner join windows
        on assignments.campaign_id = windows.campaign_id
    cross join as_of
    left join purchases
        on assignments.customer_id = purchases.customer_id
        and purchases.order_date >= assignments.starts_on
        and purchases.order_date < windows.window_ends_on
        and purchases.order_date <= as_of.as_of_date
    group by assignments.campaign_id, assignments.arm, assignments.customer_id
),

per_arm as (
    select
        campaign_id,
        arm,
        count(*) as customers,
        sum(converted) as converters,
        cast(sum(converted) as double) / count(*) as conversion_rate,
        cast(sum(revenue) as decimal(18, 2)) as revenue,
        avg(cast(revenue as double)) as revenue_per_customer,
        coalesce(stddev_samp(cast(revenue as double)), 0) as revenue_stddev
    from per_customer
    group by campaign_id, arm
),

with_control as (
    select
        per_arm.*,
        windows.window_ends_on,
        per_arm.arm = windows.control_arm as is_control,
        control.conversion_rate as control_rate,
        control.customers as control_customers
    from per_arm
    inner join windows
        on per_arm.campaign_id = windows.campaign_id
    left join per_arm as control
        on per_arm.campaign_id = control.campaign_id
        and control.arm = windows.control_arm
),

final as (
    select
        campaign_id,
        arm,
        is_control,
        customers,
        converters,
        conversion_rate,
        case when converters = 0 then 0.0 else greatest(0.0, (conversion_rate + {{ z }} * {{ z }} / (2.0 * customers)
            - {{ z }} * sqrt(conversion_rate * (1 - conversion_rate) / customers
                + {{ z }} * {{ z }} / (4.0 * customers * customers)))
        / (1 + {{ z }} * {{ z }} / customers)) end as conversion_rate_ci_low,
        case when converters = customers then 1.0 else least(1.0, (conversion_rate + {{ z }} * {{ z }} / (2.0 * customers)
            + {{ z }} * sqrt(conversion_rate * (1 - conversion_rate) / customers
                + {{ z }} * {{ z }} / (4.0 * customers * customers)))
        / (1 + {{ z }} * {{ z }} / customers)) end as conversion_rate_ci_high,
        revenue,
        revenue_per_customer,
        greatest(0.0, revenue_per_customer - {{ z }} * revenue_stddev / sqrt(customers))
            as revenue_per_customer_ci_low,
        revenue_per_customer + {{ z }} * revenue_stddev / sqrt(customers) as revenue_per_customer_ci_high,
        case when not is_control then conversion_rate - control_rate end as uplift_vs_control,
        case when not is_control then greatest(-1.0, conversion_rate - control_rate - {{ z }} * sqrt(
            conversion_rate * (1 - conversion_rate) / customers
            + control_rate * (1 - control_rate) / control_customers)) end as uplift_ci_low,
        case when not is_control then least(1.0, conversion_rate - control_rate + {{ z }} * sqrt(
            conversion_rate * (1 - conversion_rate) / customers
            + control_rate * (1 - control_rate) / control_customers)) end as uplift_ci_high,
        window_ends_on
    from with_control
)

select
    final.*,
    as_of.as_of_date >= {{ add_days('final.window_ends_on', -1) }} as window_complete,
    as_of.as_of_date
from final
cross join as_of

{%- endif %}
