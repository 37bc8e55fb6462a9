"""The ``ziprc`` command line: one module per subcommand, each exposing ``register``."""
