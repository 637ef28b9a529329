"""Accord: a federated exchange for international security cooperation."""

__version__ = "0.1.0"
