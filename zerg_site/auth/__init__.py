"""Owner authentication: the owner account, one-time login links, API tokens, rate limits."""
