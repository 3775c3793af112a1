"""`portal demo`: a ready data repository on the embedded sandbox, with dev already deployed."""

from __future__ import annotations

import os
from pathlib import Path

from portal.deploy.events import EventSink, no_events
from portal.deploy.service import apply_environment, plan_environment
from portal.deploy.target import sandbox_for
from portal.environments.workspace import MappingWorkspace
from portal.sandbox.demo_content import DEMO_ENVIRONMENTS, write_demo_repository


def create_demo(path: str | os.PathLike[str], *, sink: EventSink = no_events) -> Path:
    """Write the demo repository, create its three (empty) factories in the sandbox and promote dev."""
    root = Path(path).resolve()
    write_demo_repository(root)
    workspace = MappingWorkspace.open(root)
    for name in DEMO_ENVIRONMENTS:
        target = workspace.environment(name).data_factory
        client = sandbox_for(root / target.sandbox).client(target.subscription_id)
        # In Azure the factories exist before anyone promotes into them; here the demo makes them.
        client.factories.create_or_update(target.resource_group, target.factory_name,
                                          {"location": target.location})
    planned = plan_environment(workspace, "dev", sink=sink)
    apply_environment(workspace, "dev", planned.plan, sink=sink, planned=planned)
    return root
