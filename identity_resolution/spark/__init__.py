"""Identity resolution's blocking and scoring as Spark jobs (the path beyond one machine).

See `identity_resolution.spark.engine` and docs/scaling.md. Importing this package does not import
PySpark; the engine functions take a SparkSession (`warehouse.spark.local_session`).
"""
