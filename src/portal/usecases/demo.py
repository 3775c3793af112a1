"""`portal demo`: a ready data repository on the embedded sandbox, with dev already deployed."""

from __future__ import annotations

import os
from pathlib import Path

from azure.mgmt.datafactory.models import Factory

from portal.environments.workspace import MappingWorkspace
from portal.events import EventSink, no_events
from portal.promotion.identity import Identity
from portal.promotion.service import Promotions
from portal.sandbox import sandbox_for
from portal.sandbox.demo_content import DEMO_ENVIRONMENTS, write_demo_repository
from portal.usecases.promotions import promote

DEMO_IDENTITY = Identity("portal-demo", (), False, "demo set-up")


def create_demo(path: str | os.PathLike[str], *, sink: EventSink = no_events) -> Path:
    """Write the demo repository, create its three (empty) factories in the sandbox and promote dev."""
    root = Path(path).resolve()
    write_demo_repository(root)
    workspace = MappingWorkspace.open(root)
    for name in DEMO_ENVIRONMENTS:
        target = workspace.environment(name).data_factory
        assert target.sandbox is not None  # the demo's portal.yaml puts every target on the sandbox
        client = sandbox_for(root / target.sandbox).client(target.subscription_id)
        # In Azure the factories exist before anyone promotes into them; here the demo makes them.
        client.factories.create_or_update(target.resource_group, target.factory_name, Factory(location=target.location))
    # Dev is promoted the audited way, so its snapshot may go on to test (a snapshot reaches an environment only
    # after it succeeded in the one before).
    promotions = Promotions.open(root)
    try:
        promote(promotions, "dev", DEMO_IDENTITY, sink=sink)
    finally:
        promotions.close()
    return root
