"""Problem-management steps: one module per step, each a Prefect task over a plain function."""
