-- Nobody without marketing consent or below the completeness threshold is ever on a list.
select lists.customer_id, lists.list_name
from {{ ref('activation_lists') }} as lists
inner join {{ ref('dim_customer') }} as dim
    on lists.customer_id = dim.customer_id
where not dim.is_contactable
    or dim.completeness_score < {{ setting('activation.min_completeness', 0) }}
    or (lists.contact_channel = 'email' and not coalesce(dim.consent_email, false))
    or (lists.contact_channel = 'sms' and not coalesce(dim.consent_sms, false))
    or (lists.contact_channel = 'wechat' and not coalesce(dim.consent_wechat, false))
