"""Pure placement core: frozen node snapshots and a task in, a Placement or NoFit out.

No I/O lives here (tests/unit/test_scheduler_purity.py enforces it), so the same
code is table-tested, property-tested and benchmarked without a cluster.
"""

from .constraints import Constraint, ConstraintError, parse_constraint
from .index import NodeIndex, place_many
from .place import STRATEGIES, place, place_many_scan
from .ports import HostPort, host_ports
from .types import NodeSnapshot, NoFit, Placement, TaskRequest
from .units import format_bytes, format_cpus

__all__ = [
    "STRATEGIES",
    "Constraint",
    "ConstraintError",
    "HostPort",
    "NoFit",
    "NodeIndex",
    "NodeSnapshot",
    "Placement",
    "TaskRequest",
    "format_bytes",
    "format_cpus",
    "host_ports",
    "parse_constraint",
    "place",
    "place_many",
    "place_many_scan",
]
