"""Device names the server keeps for itself. Core and Django-free: the token code refuses them
(``zerg_site.auth.tokens``), the Timeline finds a session's own files by them (``timeline.export``),
commis stores its runs' sessions under them (``commis.backends.sessionfiles``)."""

# The Timeline's device name for the sessions commis runs on this server: no device token may take it.
COMMIS_DEVICE = "zerg-commis"
