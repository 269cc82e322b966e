"""Queries and writes, one module per record type.

Every function is keyword-only and takes the session first; callers (tasks,
the CLI, the HTTP intake) own the transaction.
"""
