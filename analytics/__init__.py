"""Customer analytics that need more than SQL: statistical models the dbt marts call into.

Pure NumPy/SciPy/Polars modelling code; I/O only at the edges. `analytics.clv` holds the customer
lifetime value models (BG/NBD and Gamma-Gamma) behind `cdp clv fit` and the `customer_clv` mart.
"""
