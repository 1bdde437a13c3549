"""Signals the Forum sends for other apps.

``oikos_mentioned``: sent with ``(sender=Post, post=<forum.models.Post>)`` after a post
that mentions ``@oikos`` committed (not for Oikos's own posts). Receivers run in the
process that stored the post (web, worker or CLI); their failures are logged, never
raised into the poster's request.
"""

from django.dispatch import Signal

oikos_mentioned = Signal()
