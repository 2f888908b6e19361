"""Resources: monitors that measure usage, and the resources they feed."""

from orchestra_core.resources.definitions import Aggregation, Monitor, ResourceDefinition, Sample

__all__ = ["Aggregation", "Monitor", "ResourceDefinition", "Sample"]
