{#- The relation of a lake table (`source(layer, table)`, a view the `lake` plugin creates per
    Delta table). A missing required table stops the build with the path and the stage that
    writes it; with `empty_if_missing` (column -> type) a missing optional table reads as an empty
    relation of that shape instead, so the marts build before a later stage has ever run. -#}
{% macro lake_source(layer, table, empty_if_missing=none) -%}
    {%- set relation = source(layer, table) -%}
    {%- if not execute -%}
        {{- return(relation) -}}
    {%- endif -%}
    {%- set found = adapter.get_relation(
        database=relation.database, schema=relation.schema, identifier=relation.identifier) -%}
    {%- if found is not none -%}
        {{- return(relation) -}}
    {%- endif -%}
    {%- if empty_if_missing is not none -%}
        {%- set columns = [] -%}
        {%- for name, data_type in empty_if_missing.items() -%}
            {%- do columns.append('cast(null as ' ~ cdp.portable_type(data_type) ~ ') as ' ~ adapter.quote(name)) -%}
        {%- endfor -%}
        {{- return('(select ' ~ columns | join(', ') ~ ' where 1 = 0)') -}}
    {%- endif -%}
    {%- set writers = {
        'silver': '`cdp run --until standardize`',
        'identity': '`cdp run --until resolve`',
        'quality': 'the quality gate',
    } -%}
    {{ exceptions.raise_compiler_error(
        layer ~ " table '" ~ table ~ "' not found at " ~ env_var('CDP_DATA_ROOT', '<data root>')
        ~ "/lake/" ~ layer ~ "/" ~ table ~ "; it is written by " ~ writers.get(layer, 'an earlier stage')) }}
{%- endmacro %}
