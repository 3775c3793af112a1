"""An embedded sandbox: a local emulator of the Azure Data Factory management REST API (api-version 2018-06-01).

The real SDK (`azure.mgmt.datafactory.DataFactoryManagementClient`) talks to it unchanged over HTTPS, so tests,
the demo and the benchmark exercise the same calls, retries and long-running operations as against Azure:

    with SandboxServer(tmp_path) as server:
        client = server.client("00000000-0000-0000-0000-000000000000")
        client.factories.create_or_update("rg", "adf-dev", {"location": "westeurope"})

Databricks workspaces are emulated too (the Workspace API the real `databricks.sdk.WorkspaceClient` uses), one
plain-HTTP listener per workspace host:

        w = server.workspace_client("https://adb-1111111111111111.1.azuredatabricks.net")
        w.workspace.mkdirs("/Shared/etl")

Every listener is a small Starlette ASGI app (`asgi.ApiApp`) over the API's synchronous `handle`, served by
uvicorn's h11 protocol on one asyncio event loop in a background thread (`server.py`); the API calls run in
worker threads, injected latency and faults are played on the loop.
"""

from portal.sandbox.credential import SANDBOX_TOKEN, SandboxCredential
from portal.sandbox.faults import ApiCounts, FaultRule, Faults, SandboxStats
from portal.sandbox.server import SandboxServer, sandbox_for, serve
from portal.sandbox.workspace_api import WorkspaceLimits

__all__ = [
    "SANDBOX_TOKEN",
    "ApiCounts",
    "FaultRule",
    "Faults",
    "SandboxCredential",
    "SandboxServer",
    "SandboxStats",
    "WorkspaceLimits",
    "sandbox_for",
    "serve",
]
