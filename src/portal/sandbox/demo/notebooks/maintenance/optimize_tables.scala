// Databricks notebook source
// MAGIC %md
// MAGIC # Optimize the sales tables
// MAGIC Weekly compaction of the curated sales tables (run by hand or from a Databricks job).

// COMMAND ----------

dbutils.widgets.text("environment", "dev")
val environment = dbutils.widgets.get("environment")
val lake = s"abfss://curated@stretail$environment.dfs.core.windows.net"

// COMMAND ----------

Seq("sales/orders", "sales/kpis/daily").foreach { table =>
  spark.sql(s"OPTIMIZE delta.`$lake/$table`")
}
