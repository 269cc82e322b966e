"""Reporting: KPIs and their report, the Kanban board, charts."""
