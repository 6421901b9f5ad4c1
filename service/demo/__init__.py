"""A deterministic, seeded generator of a fictional mission area.

Everything is invented: the towns, the organisations (apart from the names of UN agencies), the
armed groups and every incident. The area is the box lon 23..29, lat 3..9, split into one force
area, four sectors (2 x 2, slightly irregular boundaries) and eight battalion areas. The same seed
gives the same scenario, record ids included, so demos, tests and benchmarks are reproducible.
Ids are random (version 4) UUIDs drawn from the seed, except incident ids: version 7 UUIDs
stamped with the time the incident was reported, so that they grow with time and a million of
them go into the primary-key and audit indexes quickly.

Records are plain dicts whose keys are the column names of the table they belong to; geometries
are WKT strings in WGS 84 under ``geom`` (and ``hq`` for sectors). Incidents can be many (a
million for benchmarks): they are held as numpy columns and handed out in batches by
:meth:`Scenario.incident_batches`; :attr:`Scenario.incidents` builds the dicts on demand.

The generator (``model``, ``world``, one module per kind of record, ``scenario``) is pure Python
(numpy + shapely): it knows nothing of the database or the API. ``load`` writes a scenario into
the database, fast. The package lives with the service, not in ``geo/``: its records are
database rows keyed by column names.
"""

from service.demo.model import (
    DEFAULT_END,
    DEFAULT_REFERENCE_DATE,
    INCIDENT_CATEGORIES,
    INCIDENT_COLUMNS,
    MISSION_BBOX,
    ORIGIN,
    Record,
    Scenario,
    period_end,
)
from service.demo.scenario import generate_scenario

__all__ = [
    "DEFAULT_END",
    "DEFAULT_REFERENCE_DATE",
    "INCIDENT_CATEGORIES",
    "INCIDENT_COLUMNS",
    "MISSION_BBOX",
    "ORIGIN",
    "Record",
    "Scenario",
    "generate_scenario",
    "period_end",
]
