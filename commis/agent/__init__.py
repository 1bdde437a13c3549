"""The built-in ``agent`` backend's parts: workspace-confined tools (``tools``) and the
langgraph graph that calls the configured model through ``zerg_site.llm`` (``graph``).
``graph`` imports langgraph; import it only when a job runs."""
