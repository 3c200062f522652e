{#- A business rule from cdp.yaml `marts:`, passed by warehouse/dbt.py as the `cdp` var.
    `setting('lifecycle.dormant_days')` walks the dotted path. While dbt only parses (no run), a
    missing var yields `default` so `dbt parse` / `dbt ls` work without our runner; at run time a
    missing setting is an error that says how to run the project. -#}
{% macro setting(path, default=none) -%}
    {%- set value = var('cdp', none) -%}
    {%- if value is none -%}
        {%- if execute -%}
            {{ exceptions.raise_compiler_error(
                "dbt var 'cdp' is missing: run this project through warehouse.dbt (cdp run, the cdp_daily DAG) "
                ~ "or pass --vars from warehouse.marts_settings.dbt_vars") }}
        {%- endif -%}
        {{- return(default) -}}
    {%- endif -%}
    {%- set found = namespace(value=value) -%}
    {%- for key in path.split('.') -%}
        {%- if found.value is mapping and key in found.value -%}
            {%- set found.value = found.value[key] -%}
        {%- elif execute -%}
            {{ exceptions.raise_compiler_error("cdp.yaml marts: setting '" ~ path ~ "' not found") }}
        {%- else -%}
            {{- return(default) -}}
        {%- endif -%}
    {%- endfor -%}
    {{- return(found.value) -}}
{%- endmacro %}

{#- A list setting rendered as a SQL list of string literals: ('completed', 'settled'). -#}
{% macro setting_in_list(path) -%}
    {%- set values = setting(path, []) or ['__none__'] -%}
    ({%- for v in values -%}'{{ v | replace("'", "''") }}'{%- if not loop.last -%}, {% endif -%}{%- endfor -%})
{%- endmacro %}
