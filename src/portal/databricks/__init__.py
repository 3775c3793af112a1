"""Databricks: the notebooks and files a repository deploys to a workspace folder (`notebooks`)."""
