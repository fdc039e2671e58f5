"""Records read from etcd are untrusted input. An agent's etcd identity may write any bytes under
its own keys (/shoal/nodes/<id>/), and every manager and every other agent reads them: one record
that does not decode must cost that record, never a watch, a load, a pass or a start-up.

`BadRecord` is what every decoder of a record raises, whatever the codec underneath raised
(`record_log.BadRecords` counts and logs the ones skipped). Pure: the decoders and the pure
modules that use them (DNS gate, node identity) import nothing that does I/O."""
from __future__ import annotations


class BadRecord(ValueError):
    """A record that cannot be used as it is: undecodable, out of bounds, or not where it may be."""
