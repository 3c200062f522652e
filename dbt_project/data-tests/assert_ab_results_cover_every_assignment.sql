-- Each campaign's results count exactly the customers assigned to it, arm by arm.
with

assigned as (
    select campaign_id, arm, count(*) as customers
    from {{ ref('ab_assignments') }}
    group by campaign_id, arm
)

select
    coalesce(assigned.campaign_id, results.campaign_id) as campaign_id,
    coalesce(assigned.arm, results.arm) as arm,
    assigned.customers as assigned_customers,
    results.customers as result_customers
from assigned
full outer join {{ ref('ab_results') }} as results
    on assigned.campaign_id = results.campaign_id
    and assigned.arm = results.arm
where assigned.customers is null
    or results.customers is null
    or assigned.customers <> results.customers
