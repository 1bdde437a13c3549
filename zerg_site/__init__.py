"""Zerg: a self-hosted operations center for coding agents."""

__version__ = "0.1.0"
