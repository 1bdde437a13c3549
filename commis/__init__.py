"""Commis: background agent jobs, their backends and workspaces, and Sauron schedules."""
