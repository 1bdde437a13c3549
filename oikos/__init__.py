"""Oikos: the owner's chat, the langgraph graph and its tools (lands with the Oikos issue)."""
