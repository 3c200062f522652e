{#- Who marketing should contact today, one row per customer and list. Only contactable customers
    (consent on a usable channel, profile complete enough) ever appear. -#}
{%- set cross_sell = setting('activation.cross_sell', {}) -%}
{%- set item = 'lines.' ~ (cross_sell.level or 'category') -%}

with

contactable as (
    select * from {{ ref('int_customers__contactability') }}
    where is_contactable
),

golden as (
    select customer_id, date_of_birth from {{ ref('stg_identity__golden_customer') }}
),

lifecycle as (
    select * from {{ ref('customer_lifecycle') }}
),

rules as (
    select * from {{ ref('association_rules') }}
),

as_of as (
    select as_of_date from {{ ref('int_calendar__as_of') }}
),

customer_items as (
    -- the lines of int_orders__purchases' orders, read from fct_order_lines (no second join)
    select distinct
        lines.customer_id,
        {{ item }} as item
    from {{ ref('fct_order_lines') }} as lines
    cross join as_of
    where lines.is_purchase
        and lines.customer_id is not null
        and lines.order_date <= as_of.as_of_date
        and {{ item }} is not null
),

birthday_this_month as (
    select
        golden.customer_id,
        'birthday_this_month' as list_name,
        cast(null as {{ dbt.type_string() }}) as recommended_item,
        'birthday on ' || cast(golden.date_of_birth as {{ dbt.type_string() }}) as reason
    from golden
    cross join as_of
    where extract(month from golden.date_of_birth) = extract(month from as_of.as_of_date)
),

win_back as (
    select
        customer_id,
        'win_back' as list_name,
        cast(null as {{ dbt.type_string() }}) as recommended_item,
        'dormant: no purchase for ' || cast(recency_days as {{ dbt.type_string() }}) || ' days' as reason
    from lifecycle
    where lifecycle_state = 'dormant'
),

reactivation as (
    select
        customer_id,
        'reactivation' as list_name,
        cast(null as {{ dbt.type_string() }}) as recommended_item,
        'churned: no purchase for ' || cast(recency_days as {{ dbt.type_string() }}) || ' days' as reason
    from lifecycle
    where lifecycle_state = 'churned'
),

cross_sell_candidates as (
    select
        bought.customer_id,
        rules.consequent,
        rules.antecedent,
        rules.lift,
        rules.confidence,
        row_number() over (
            partition by bought.customer_id
            order by rules.lift desc, rules.confidence desc, rules.consequent, rules.antecedent
        ) as preference
    from customer_items as bought
    inner join rules
        on bought.item = rules.antecedent
    left join customer_items as owned
        on bought.customer_id = owned.customer_id
        and rules.consequent = owned.item
    where owned.item is null
),

cross_sell as (
    select
        customer_id,
        'cross_sell' as list_name,
        consequent as recommended_item,
        'bought ' || antecedent || '; customers who do buy ' || consequent || ' '
        || cast(round(confidence * 100, 0) as {{ dbt.type_string() }}) || '% of the time (lift '
        || cast(round(lift, 2) as {{ dbt.type_string() }}) || ')' as reason
    from cross_sell_candidates
    where preference = 1
),

lists as (
    select * from birthday_this_month
    union all
    select * from win_back
    union all
    select * from reactivation
    union all
    select * from cross_sell
),

final as (
    select
        lists.customer_id,
        lists.list_name,
        contactable.contact_channel,
        contactable.contact_address,
        lists.recommended_item,
        lists.reason,
        as_of.as_of_date
    from lists
    inner join contactable
        on lists.customer_id = contactable.customer_id
    cross join as_of
)

select * from final
