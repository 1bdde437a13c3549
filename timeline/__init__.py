"""Timeline: the archive of every agent session, its search and export."""
