# Databricks notebook source
# MAGIC %md
# MAGIC # Transform sales
# MAGIC Builds the sales fact table and the daily store KPIs from the curated orders.
# MAGIC Run by the Data Factory pipeline `PL_Transform_Sales`.

# COMMAND ----------

dbutils.widgets.text("run_date", "")
dbutils.widgets.text("sample_percent", "100")
dbutils.widgets.text("environment", "dev")

run_date = dbutils.widgets.get("run_date")
sample_percent = int(dbutils.widgets.get("sample_percent"))
environment = dbutils.widgets.get("environment")
lake = f"abfss://curated@stretail{environment}.dfs.core.windows.net"

# COMMAND ----------

# MAGIC %run ./helpers/dates

# COMMAND ----------

from pyspark.sql import functions as F

orders = spark.read.parquet(f"{lake}/sales/orders")
if sample_percent < 100:
    orders = orders.sample(fraction=sample_percent / 100, seed=42)
orders = orders.where(F.col("OrderDate") == F.lit(parse_run_date(run_date)))

# COMMAND ----------

kpis = (
    orders.groupBy("OrderDate", "StoreId")
    .agg(
        F.countDistinct("OrderId").alias("Orders"),
        F.countDistinct("CustomerId").alias("Customers"),
        F.sum("NetAmount").alias("NetSales"),
    )
    .withColumnRenamed("OrderDate", "KpiDate")
    .withColumn("AverageBasket", F.col("NetSales") / F.col("Orders"))
)
kpis.write.mode("overwrite").parquet(f"{lake}/sales/kpis/daily/{run_date}")
