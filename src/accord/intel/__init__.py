"""Threat intelligence: STIX 2.1 over TAXII 2.1, TLP 2.0 enforced on every hop (ADR 0014)."""
