"""problemflow's edges: the command line, the HTTP intake and the stack runner."""

__version__ = "0.1.0"
