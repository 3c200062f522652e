{#- Generic test: every non-null value of the column lies within [min_value, max_value] (either bound
    optional). A ratio or score outside what it can be means a wrong formula, not odd data. -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
    and (
        1 = 0
        {%- if min_value is not none %}
        or {{ column_name }} < {{ min_value }}
        {%- endif %}
        {%- if max_value is not none %}
        or {{ column_name }} > {{ max_value }}
        {%- endif %}
    )
{% endtest %}
