-- Databricks notebook source
-- MAGIC %md
-- MAGIC # Daily KPIs
-- MAGIC The store KPIs of the last 30 days, for a quick look after a run.

-- COMMAND ----------

CREATE WIDGET TEXT environment DEFAULT "dev";

-- COMMAND ----------

SELECT KpiDate, StoreId, Orders, Customers, NetSales, AverageBasket
FROM parquet.`abfss://curated@stretail${environment}.dfs.core.windows.net/sales/kpis/daily`
WHERE KpiDate >= date_sub(current_date(), 30)
ORDER BY KpiDate DESC, NetSales DESC;
