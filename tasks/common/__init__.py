"""Plumbing every step shares: retries, notifications, artifacts, the Jinja environment."""
