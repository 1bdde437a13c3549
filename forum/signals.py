"""Signals the Forum sends for other apps.

``oikos_mentioned``: sent with ``(sender=Post, post=<forum.models.Post>)`` after a post
that mentions ``@oikos`` committed (not for Oikos's own posts, nor for the job reports of
forum.hooks, which quote job output). The post may be a job's or an agent's: only one
whose ``author_kind`` is ``owner`` carries the owner's words. Receivers run in the
process that stored the post (web, worker or CLI); their failures are logged, never
raised into the poster's request.
"""

from django.dispatch import Signal

oikos_mentioned = Signal()
