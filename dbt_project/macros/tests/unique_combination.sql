{#- Generic test: no two rows share the same values in `combination` (a multi-column key). -#}
{% test unique_combination(model, combination) %}
select
    {{ combination | join(', ') }},
    count(*) as rows_with_this_key
from {{ model }}
group by {{ combination | join(', ') }}
having count(*) > 1
{% endtest %}
