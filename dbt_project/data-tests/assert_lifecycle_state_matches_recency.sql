-- The current state agrees with the thresholds: dormant customers last bought between
-- dormant_days and churn_days ago, churned ones at least churn_days ago, active and new ones
-- within dormant_days, potential ones never.
{% set dormant_days = setting('lifecycle.dormant_days', 30) -%}
{%- set churn_days = setting('lifecycle.churn_days', 180) -%}
select customer_id, lifecycle_state, recency_days
from {{ ref('customer_lifecycle') }}
where (lifecycle_state = 'dormant' and not (recency_days >= {{ dormant_days }} and recency_days < {{ churn_days }}))
    or (lifecycle_state = 'churned' and not recency_days >= {{ churn_days }})
    or (lifecycle_state in ('new', 'active') and not recency_days < {{ dormant_days }})
    or (lifecycle_state = 'potential' and recency_days is not null)
