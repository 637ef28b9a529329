"""Cooperation requests under the Hanoi Convention: typed records, validation, the request
state machine, the States Parties registry and deadlines (a pure core: no I/O but ``load``)."""
