"""The desired stage: a repository's units rendered into what should run.

``render_units`` reads every unit (ecspresso's config and definitions, the
reconciler's policy, templates and lookups) into DesiredUnits; one bad unit is
reported with its findings and never hides the others.
"""

from reconciler.desired.config import COMPATIBLE_ECSPRESSO_VERSION
from reconciler.desired.render import render_units
from reconciler.source import discover_units

__all__ = ["COMPATIBLE_ECSPRESSO_VERSION", "discover_units", "render_units"]
