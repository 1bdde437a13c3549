"""Agents ingest: the Shipper's ingest API, session-file parsers and the ``zerg ship`` client."""
