"""The ``csq-hw`` command line. Each subcommand lives in its own module with ``add_arguments`` and ``run``."""
