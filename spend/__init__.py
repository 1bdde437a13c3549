"""Spend: what every agent costs, from the Timeline's sessions, Oikos's turns and commis's jobs.

The top app: it reads three apps' tables (each keeps its own cost figures) and owns none.
"""
