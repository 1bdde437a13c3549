"""The Timeline's storage API: the one way anything writes the session archive.

Timeline owns its tables; the ingest (``agents_ingest``: wire format, parsers, Shipper) parses
what a device sends and calls this package, never the tables. Modules:

- ``files``: what goes in (:class:`FileChunk`, :class:`PreparedFile`) and comes out (:class:`FileResult`)
- ``writer``: :func:`store`, one request's files into archive chunks, events and sessions
- ``archive``: the source-line archive's chunks (grouped, compressed off the GIL, inserted)
- ``rows``: the plain SQL (batched lookups and inserts, sessions and files read and written once)
- ``values``: Python values adapted to column values by hand, for executemany

Usage and instants are counted by ``timeline.usage``, priced by ``timeline.pricing``.
"""

from timeline.storage.archive import prepare_runs
from timeline.storage.files import FileChunk, FileResult, PreparedFile
from timeline.storage.writer import checkpoints_left_to_indexer, store

__all__ = ["FileChunk", "FileResult", "PreparedFile", "checkpoints_left_to_indexer", "prepare_runs", "store"]
