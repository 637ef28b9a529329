"""The ``accord`` command: wires each domain's subcommands."""
