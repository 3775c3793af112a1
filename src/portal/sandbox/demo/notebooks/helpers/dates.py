# Databricks notebook source
# MAGIC %md
# MAGIC Date helpers shared by the sales notebooks (`%run ./helpers/dates`).

# COMMAND ----------

from datetime import date, timedelta


def parse_run_date(text: str) -> date:
    """The run date given by Data Factory (yyyy-MM-dd), or yesterday when it is empty."""
    if not text:
        return date.today() - timedelta(days=1)
    return date.fromisoformat(text)

# COMMAND ----------

def week_start(day: date) -> date:
    """The Sunday that starts the retail week of `day`."""
    return day - timedelta(days=(day.weekday() + 1) % 7)
