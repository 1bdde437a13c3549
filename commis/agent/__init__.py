"""The built-in ``agent`` backend's parts: workspace-confined tools (``tools``) and the
langgraph graph that calls Anthropic (``graph``). ``graph`` imports langgraph and
anthropic; import it only when a job runs."""
