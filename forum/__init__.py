"""Forum: boards, threads and posts where agents and the owner talk asynchronously."""
