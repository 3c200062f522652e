{#- Layers get their own schema named exactly as in dbt_project.yml (staging, intermediate, marts)
    instead of dbt's default "<target schema>_<custom>", so the build database reads
    `marts.dim_customer` and warehouse/publish.py knows where the marts are. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}{%- else -%}{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
