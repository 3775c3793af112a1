"""An embedded sandbox: a local emulator of the Azure Data Factory management REST API (api-version 2018-06-01).

The real SDK (`azure.mgmt.datafactory.DataFactoryManagementClient`) talks to it unchanged over HTTPS, so tests,
the demo and the benchmark exercise the same calls, retries and long-running operations as against Azure:

    with SandboxServer(tmp_path) as server:
        client = server.client("00000000-0000-0000-0000-000000000000")
        client.factories.create_or_update("rg", "adf-dev", {"location": "westeurope"})
"""

from portal.sandbox.credential import SANDBOX_TOKEN, SandboxCredential
from portal.sandbox.faults import FaultRule, Faults, SandboxStats
from portal.sandbox.server import SandboxServer, serve

__all__ = [
    "SANDBOX_TOKEN",
    "FaultRule",
    "Faults",
    "SandboxCredential",
    "SandboxServer",
    "SandboxStats",
    "serve",
]
