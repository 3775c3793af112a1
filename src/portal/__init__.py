"""Self-service promotion portal for Azure Data Factory and Databricks: the core (no UI code here)."""

__version__ = "0.1.0"
