"""Deploying to a live Data Factory: read the target through the SDK, plan against it, apply the plan."""
