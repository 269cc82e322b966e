"""Bringing records in from other tools' files: reading them safely, mapping their columns, writing in bulk."""
