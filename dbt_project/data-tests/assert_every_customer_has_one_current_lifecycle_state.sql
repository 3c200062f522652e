-- One current lifecycle state per customer known on the as-of date, and history intervals that
-- follow each other without gaps (each interval ends where the next begins). The customers are the
-- golden records, the rows dim_customer is built from (one each), less those first recorded after
-- the as-of date (int_customers__known; no state yet): read from there, the test runs beside the
-- other marts instead of after dim_customer, which ends the build. A not-yet-known customer must
-- have no state at all.
-- The intervals are ordered for the customers the latest build wrote: the history is rebuilt by
-- customer (delete+insert, macros/incremental.sql), so only their intervals can have changed
-- since the last build's test; a full build writes, so orders, every customer (at 1M people a
-- daily build writes 2% of the 7M rows).
with

history as (
    select * from {{ ref('customer_lifecycle_history') }}
),

current_counts as (
    select
        dim.customer_id,
        case when dim.is_known then 1 else 0 end as expected_states,
        count(history.customer_id) as states,
        sum(case when history.is_current then 1 else 0 end) as current_states
    from {{ ref('int_customers__known') }} as dim
    left join history
        on dim.customer_id = history.customer_id
    group by dim.customer_id, dim.is_known
),

rewritten as (
    select customer_id
    from history
    where _built_at = (select max(_built_at) from history)
),

ordered as (
    select
        customer_id,
        valid_from,
        valid_to,
        lead(valid_from) over (partition by customer_id order by valid_from) as next_valid_from
    from history
    where customer_id in (select customer_id from rewritten)
)

select customer_id, 'current states: ' || cast(current_states as {{ dbt.type_string() }}) as problem
from current_counts
where coalesce(current_states, 0) <> expected_states
union all
select customer_id, 'not known on the as-of date, yet states: ' || cast(states as {{ dbt.type_string() }}) as problem
from current_counts
where expected_states = 0
    and states > 0
union all
select customer_id, 'gap or overlap after ' || cast(valid_from as {{ dbt.type_string() }}) as problem
from ordered
where next_valid_from is not null
    and (valid_to is null or valid_to <> next_valid_from)
