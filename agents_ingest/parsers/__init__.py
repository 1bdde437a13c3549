"""Parsers for agent session files: pure functions over raw bytes, no Django."""

from __future__ import annotations

from agents_ingest.parsers.base import LineParser, ParsedEvent, SessionMeta, complete_length, iter_lines
from agents_ingest.parsers.claude import ClaudeParser
from agents_ingest.parsers.codex import CodexParser
from agents_ingest.parsers.gemini import parse_document
from agents_ingest.parsers.zerg_agent import ZergAgentParser

#: "zerg-agent": transcripts of the built-in agent backend (commis writes them; see zerg_agent.py)
PROVIDERS = ("claude", "codex", "gemini", "zerg-agent")


def line_parser(provider: str, path: str = "") -> LineParser:
    if provider == "claude":
        return ClaudeParser(path)
    if provider == "codex":
        return CodexParser(path)
    if provider == "zerg-agent":
        return ZergAgentParser(path)
    raise ValueError(f"{provider!r} has no line parser")


def parse_bytes(provider: str, data: bytes, path: str = "", offset: int = 0) -> tuple[list[ParsedEvent], SessionMeta]:
    """Parse a whole chunk (complete lines, or a Gemini document) in one call."""
    if provider == "gemini":
        return parse_document(data, path)
    parser = line_parser(provider, path)
    events: list[ParsedEvent] = []
    for raw, line_offset in iter_lines(data, offset):
        events.extend(parser.feed(raw, line_offset))
    return events, parser.meta


__all__ = [
    "PROVIDERS",
    "ClaudeParser",
    "CodexParser",
    "LineParser",
    "ParsedEvent",
    "SessionMeta",
    "ZergAgentParser",
    "complete_length",
    "iter_lines",
    "line_parser",
    "parse_bytes",
    "parse_document",
]
