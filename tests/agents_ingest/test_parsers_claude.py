"""Claude Code parser over every Claude fixture, with counts written down from the raw files.

EXPECTED was produced by a one-off count of the raw records (json.loads of each line,
the ``type`` field, and the ``type`` of each content block), independent of the parser:
per file, ({record type: n}, {event kind: n}, output tokens summed once per message id, the
largest of that id's lines: Claude Code writes one line per content block, each with the usage
as it stood then, and the last is final; 21 files have such growing snapshots).
Event kinds: a content block list yields one event per block (text -> message,
thinking, tool_use -> tool_call, tool_result, image); string content one message;
system -> system; summary -> summary; bookkeeping records -> meta.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from agents_ingest.parsers import ClaudeParser, parse_bytes
from agents_ingest.parsers.base import iter_lines

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"

EXPECTED = {
    ("claude/real_projects/-Users-dain-workspace-JSSoundRecorder/2c5941bd-b9de-41d6-9414-221d175776f7.jsonl"): (
        {},
        {},
        0,
    ),
    ("claude/real_projects/-Users-dain-workspace-JSSoundRecorder/7acd37a8-2745-4b58-a8a9-46164b22ad9e.jsonl"): (
        {"assistant": 120, "queue-operation": 12, "user": 79},
        {"message": 23, "meta": 12, "thinking": 36, "tool_call": 71, "tool_result": 71},
        20797,
    ),
    "claude/real_projects/-Users-dain-workspace-JSSoundRecorder/agent-3430b97e.jsonl": (
        {"assistant": 1},
        {"message": 1},
        166,
    ),
    "claude/real_projects/-Users-dain-workspace-JSSoundRecorder/agent-388fb764.jsonl": (
        {"assistant": 1},
        {"message": 1},
        266,
    ),
    "claude/real_projects/-Users-dain-workspace-JSSoundRecorder/agent-650d3273.jsonl": (
        {"assistant": 1},
        {"message": 1},
        164,
    ),
    "claude/real_projects/-Users-dain-workspace-JSSoundRecorder/agent-7d618812.jsonl": (
        {"assistant": 1},
        {"message": 1},
        230,
    ),
    "claude/real_projects/-Users-dain-workspace-JSSoundRecorder/agent-88061e52.jsonl": (
        {"assistant": 1},
        {"message": 1},
        142,
    ),
    "claude/real_projects/-Users-dain-workspace-JSSoundRecorder/agent-8d27fe83.jsonl": (
        {"assistant": 1},
        {"message": 1},
        75,
    ),
    "claude/real_projects/-Users-dain-workspace-JSSoundRecorder/agent-9c2b663e.jsonl": (
        {"assistant": 1},
        {"message": 1},
        106,
    ),
    "claude/real_projects/-Users-dain-workspace-JSSoundRecorder/agent-aa1e905b.jsonl": (
        {"assistant": 1},
        {"message": 1},
        100,
    ),
    ("claude/real_projects/-Users-dain-workspace-JSSoundRecorder/b23cbd1d-a39d-4f31-98fd-98f8ff69b816.jsonl"): (
        {},
        {},
        0,
    ),
    ("claude/real_projects/-Users-dain-workspace-claude-code-log-sample/07f2e15c-a38b-454b-9148-60edc06de401.jsonl"): (
        {"assistant": 32, "summary": 4, "user": 21},
        {"message": 13, "summary": 4, "tool_call": 20, "tool_result": 20},
        328,
    ),
    ("claude/real_projects/-Users-dain-workspace-claude-code-log-sample/0d3a8e6f-290f-4105-a327-a2496e5e2a83.jsonl"): (
        {"assistant": 32, "system": 8, "user": 28},
        {"image": 1, "message": 23, "system": 8, "thinking": 9, "tool_call": 14, "tool_result": 14},
        5057,
    ),
    ("claude/real_projects/-Users-dain-workspace-claude-code-log-sample/12a546d1-83a7-49a6-abba-5400db340b43.jsonl"): (
        {"assistant": 68, "system": 4, "user": 41},
        {"message": 39, "system": 4, "tool_call": 35, "tool_result": 35},
        6064,
    ),
    ("claude/real_projects/-Users-dain-workspace-claude-code-log-sample/326189cf-5676-4237-8cde-1ce80aae4a9f.jsonl"): (
        {"assistant": 20, "summary": 4, "system": 12, "user": 18},
        {"message": 10, "summary": 4, "system": 12, "tool_call": 14, "tool_result": 14},
        487,
    ),
    ("claude/real_projects/-Users-dain-workspace-claude-code-log-sample/37f83ec9-f2ea-42a9-925e-0d5c105cb6e8.jsonl"): (
        {"assistant": 177, "summary": 6, "system": 54, "user": 109},
        {"message": 84, "summary": 6, "system": 54, "tool_call": 101, "tool_result": 101},
        2573,
    ),
    ("claude/real_projects/-Users-dain-workspace-claude-code-log-sample/4e27c414-a885-46a0-b5c8-d58e1417377d.jsonl"): (
        {"summary": 1},
        {"summary": 1},
        0,
    ),
    ("claude/real_projects/-Users-dain-workspace-claude-code-log-sample/4fe49c7c-ff82-4ac7-b3f2-79c22036bd58.jsonl"): (
        {},
        {},
        0,
    ),
    ("claude/real_projects/-Users-dain-workspace-claude-code-log-sample/62b71fe7-2de1-4d37-83e3-fddac2e2c43a.jsonl"): (
        {},
        {},
        0,
    ),
    ("claude/real_projects/-Users-dain-workspace-claude-code-log-sample/71c9afe9-d9cc-4583-86b3-e62ba682b83a.jsonl"): (
        {"assistant": 5, "system": 2, "user": 8},
        {"message": 9, "system": 2, "tool_call": 2, "tool_result": 2},
        643,
    ),
    ("claude/real_projects/-Users-dain-workspace-claude-code-log-sample/89488521-e2e7-4d97-bc02-38197efdddc8.jsonl"): (
        {"assistant": 17, "summary": 3, "system": 8, "user": 10},
        {"message": 9, "summary": 3, "system": 8, "tool_call": 9, "tool_result": 9},
        112,
    ),
    ("claude/real_projects/-Users-dain-workspace-claude-code-log-sample/937c6e6b-27e7-4edd-86f1-ad28f9731841.jsonl"): (
        {"assistant": 46, "system": 20, "user": 33},
        {"message": 27, "system": 20, "tool_call": 26, "tool_result": 26},
        1873,
    ),
    ("claude/real_projects/-Users-dain-workspace-claude-code-log-sample/a854db35-bd6a-47ad-880a-4fdf5c1fac69.jsonl"): (
        {},
        {},
        0,
    ),
    ("claude/real_projects/-Users-dain-workspace-claude-code-log-sample/aa5c5ada-4f1e-4b7f-9d1f-c496b3badde5.jsonl"): (
        {"assistant": 24, "system": 6, "user": 18},
        {"message": 14, "system": 6, "tool_call": 14, "tool_result": 14},
        1363,
    ),
    "claude/real_projects/-Users-dain-workspace-claude-code-log-sample/agent-3be551df.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        247,
    ),
    "claude/real_projects/-Users-dain-workspace-claude-code-log-sample/agent-41b9470d.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        70,
    ),
    "claude/real_projects/-Users-dain-workspace-claude-code-log-sample/agent-41be4aa9.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        133,
    ),
    "claude/real_projects/-Users-dain-workspace-claude-code-log-sample/agent-fea317d4.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        203,
    ),
    ("claude/real_projects/-Users-dain-workspace-claude-code-log-sample/b45ad5d8-81fb-4bcb-baba-19d9f503d731.jsonl"): (
        {"assistant": 14, "system": 2, "user": 12},
        {"message": 10, "system": 2, "tool_call": 8, "tool_result": 8},
        1931,
    ),
    ("claude/real_projects/-Users-dain-workspace-claude-code-log-sample/b8b48015-0e89-4b2a-8438-bd16c8c50338.jsonl"): (
        {},
        {},
        0,
    ),
    ("claude/real_projects/-Users-dain-workspace-claude-code-log-sample/cbc0f75b-b36d-4efd-a7da-ac800ea30eb6.jsonl"): (
        {"assistant": 17, "system": 2, "user": 15},
        {"message": 14, "system": 2, "tool_call": 9, "tool_result": 9},
        3443,
    ),
    ("claude/real_projects/-Users-dain-workspace-claude-code-log-sample/f9b8738e-1c30-4da4-a07a-beab77c7521f.jsonl"): (
        {},
        {},
        0,
    ),
    ("claude/real_projects/-Users-dain-workspace-claude-code-log-sample/fe869ecb-c176-478f-9734-7e4b8ef12cff.jsonl"): (
        {"assistant": 59, "summary": 15, "user": 37},
        {"message": 12, "summary": 15, "thinking": 20, "tool_call": 32, "tool_result": 32},
        2201,
    ),
    (
        "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/1ca217c4-f55d-4f6e-a994-b7e2231336f0.jsonl"
    ): (
        {},
        {},
        0,
    ),
    (
        "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/4227a68e-2b1f-4923-b824-6e04a67f77c1.jsonl"
    ): (
        {},
        {},
        0,
    ),
    (
        "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/53196f99-eefe-4512-a459-d6def854aae8.jsonl"
    ): (
        {},
        {},
        0,
    ),
    (
        "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/5b97e2d4-d624-4af2-9fb8-7fc02540282a.jsonl"
    ): (
        {},
        {},
        0,
    ),
    (
        "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/6323a48e-3984-42eb-8790-2f7811368ab7.jsonl"
    ): (
        {},
        {},
        0,
    ),
    (
        "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/8a69e93c-e842-471d-a053-5c316757e5e9.jsonl"
    ): (
        {},
        {},
        0,
    ),
    (
        "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/a4d5ef26-c12c-47f7-970f-ec573fdbdcbd.jsonl"
    ): (
        {},
        {},
        0,
    ),
    (
        "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/a6022a13-4ec2-41a1-85e9-6e31e7c62f58.jsonl"
    ): (
        {},
        {},
        0,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-0c78cdae.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        150,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-1509e86b.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        98,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-1674bc8c.jsonl": (
        {"assistant": 1},
        {"message": 1},
        3,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-1d78a5e5.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        272,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-20f650b0.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        70,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-2b93909d.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        48,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-3b8502cb.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        65,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-3d1bd44a.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        194,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-4b8f344c.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        45,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-4e5cf10d.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        45,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-55b71465.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        116,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-5e37fdd5.jsonl": (
        {"assistant": 1},
        {"message": 1},
        7,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-645808c9.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        110,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-659acfed.jsonl": (
        {"assistant": 1},
        {"message": 1},
        1,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-668b5ac2.jsonl": (
        {"assistant": 12, "user": 8},
        {"message": 6, "tool_call": 7, "tool_result": 7},
        2143,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-7010dafc.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        132,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-7df5b3b2.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        105,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-7f1e17a3.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        189,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-9fa17969.jsonl": (
        {"assistant": 11, "user": 6},
        {"message": 7, "tool_call": 5, "tool_result": 5},
        1861,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-a7b0bd37.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        145,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-a83805a2.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        60,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-af75be79.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        56,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-b2d6685e.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        186,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-b52b1c09.jsonl": (
        {"assistant": 10, "user": 6},
        {"message": 6, "tool_call": 5, "tool_result": 5},
        2194,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-bbd1e02f.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        51,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-db734024.jsonl": (
        {"assistant": 11, "user": 7},
        {"message": 6, "tool_call": 6, "tool_result": 6},
        2055,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-ea02459f.jsonl": (
        {"assistant": 18, "user": 15},
        {"message": 5, "tool_call": 14, "tool_result": 14},
        1799,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-f36dc5e5.jsonl": (
        {"assistant": 14, "user": 9},
        {"message": 7, "tool_call": 8, "tool_result": 8},
        2865,
    ),
    "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/agent-fd95e415.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        161,
    ),
    (
        "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/c7fda819-26c4-40c8-bfec-2d2240999e42.jsonl"
    ): (
        {},
        {},
        0,
    ),
    (
        "claude/real_projects/-Users-dain-workspace-coderabbit-review-helper/cb2e607c-c758-415a-8b45-c49e4631906a.jsonl"
    ): (
        {"assistant": 200, "queue-operation": 10, "user": 82},
        {"message": 55, "meta": 10, "thinking": 80, "tool_call": 76, "tool_result": 76},
        23714,
    ),
    ("claude/real_projects/-Users-dain-workspace-danieldemmel-me-next/3680252d-d4e3-4416-bddd-8f5b5b4fdb7f.jsonl"): (
        {"summary": 3, "user": 3},
        {"message": 3, "summary": 3},
        0,
    ),
    ("claude/real_projects/-Users-dain-workspace-danieldemmel-me-next/4379d1bf-ccb1-414e-a856-9791b73f3af2.jsonl"): (
        {"assistant": 5, "user": 9},
        {"image": 1, "message": 10, "tool_call": 2, "tool_result": 2},
        7,
    ),
    ("claude/real_projects/-Users-dain-workspace-danieldemmel-me-next/5ed31c36-bca8-40fd-8d24-f1a1f0af7901.jsonl"): (
        {"assistant": 7, "user": 5},
        {"message": 5, "tool_call": 4, "tool_result": 4},
        3,
    ),
    ("claude/real_projects/-Users-dain-workspace-danieldemmel-me-next/7864f562-717b-4d70-a1cb-b588f7826a1a.jsonl"): (
        {},
        {},
        0,
    ),
    ("claude/real_projects/-Users-dain-workspace-danieldemmel-me-next/9e953218-585f-4692-89df-9e0747a31c68.jsonl"): (
        {"assistant": 145, "user": 103},
        {"image": 1, "message": 71, "tool_call": 92, "tool_result": 92},
        3195,
    ),
    "claude/real_projects/-Users-dain-workspace-danieldemmel-me-next/agent-3ea04571.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        146,
    ),
    "claude/real_projects/-Users-dain-workspace-danieldemmel-me-next/agent-b1f5d80e.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        87,
    ),
    "claude/real_projects/-Users-dain-workspace-danieldemmel-me-next/agent-c3d572ee.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        62,
    ),
    "claude/real_projects/-Users-dain-workspace-danieldemmel-me-next/agent-c63fe96c.jsonl": (
        {"assistant": 1, "user": 1},
        {"message": 2},
        190,
    ),
    ("claude/real_projects/-Users-dain-workspace-danieldemmel-me-next/b25638d7-b104-4f06-a797-70ac33d069ed.jsonl"): (
        {"assistant": 28, "user": 18},
        {"message": 12, "tool_call": 17, "tool_result": 17},
        759,
    ),
    ("claude/real_projects/-Users-dain-workspace-danieldemmel-me-next/f852ad25-1024-47da-964e-5eaae5bd6e6a.jsonl"): (
        {"assistant": 59, "user": 44},
        {"message": 31, "thinking": 2, "tool_call": 35, "tool_result": 35},
        3130,
    ),
    "claude/real_projects/-experiments-ideas/03eb5929-52b3-4b13-ada3-b93ae35806b8.jsonl": (
        {"assistant": 22, "file-history-snapshot": 9, "progress": 11, "system": 7, "user": 12},
        {"message": 24, "meta": 20, "system": 7, "thinking": 6, "tool_call": 2, "tool_result": 2},
        88,
    ),
    "claude/real_projects/-experiments-ideas/a95fea4a-b88a-4e49-ac07-4cc323d8700c.jsonl": (
        {"file-history-snapshot": 4},
        {"meta": 4},
        0,
    ),
    "claude/real_projects/-experiments-worktrees/ef958aa1-0e93-49f0-bb71-150f63befcd1.jsonl": (
        {
            "assistant": 62,
            "attachment": 49,
            "file-history-snapshot": 3,
            "last-prompt": 7,
            "permission-mode": 8,
            "system": 6,
            "user": 45,
        },
        {"message": 13, "meta": 67, "system": 6, "thinking": 14, "tool_call": 40, "tool_result": 40},
        22901,
    ),
    (
        "claude/real_projects/-experiments-worktrees/ef958aa1-0e93-49f0-bb71-150f63befcd1"
        "/subagents/agent-a36efb2a1231c41e2.jsonl"
    ): (
        {"assistant": 10, "user": 8},
        {"message": 4, "tool_call": 7, "tool_result": 7},
        2508,
    ),
    (
        "claude/real_projects/-experiments-worktrees/ef958aa1-0e93-49f0-bb71-150f63befcd1"
        "/subagents/agent-a4ca7529859c158c2.jsonl"
    ): (
        {"assistant": 31, "user": 25},
        {"message": 8, "tool_call": 24, "tool_result": 24},
        7923,
    ),
    (
        "claude/real_projects/-experiments-worktrees/ef958aa1-0e93-49f0-bb71-150f63befcd1"
        "/subagents/agent-a52886dc180afb356.jsonl"
    ): (
        {"assistant": 25, "user": 19},
        {"message": 10, "tool_call": 17, "tool_result": 17},
        6475,
    ),
    (
        "claude/real_projects/-experiments-worktrees/ef958aa1-0e93-49f0-bb71-150f63befcd1"
        "/subagents/agent-a6aa8ad077d9ea083.jsonl"
    ): (
        {"assistant": 11, "user": 7},
        {"message": 6, "tool_call": 6, "tool_result": 6},
        3122,
    ),
    (
        "claude/real_projects/-experiments-worktrees/ef958aa1-0e93-49f0-bb71-150f63befcd1"
        "/subagents/agent-ab1e6e141221a29ab.jsonl"
    ): (
        {"assistant": 23, "user": 18},
        {"message": 7, "tool_call": 17, "tool_result": 17},
        8156,
    ),
    (
        "claude/real_projects/-experiments-worktrees/ef958aa1-0e93-49f0-bb71-150f63befcd1"
        "/subagents/agent-aef063ba534d73153.jsonl"
    ): (
        {"assistant": 9, "user": 7},
        {"message": 4, "tool_call": 6, "tool_result": 6},
        2373,
    ),
    "claude/real_projects/-src-deep-manifest/a7da6a22-facc-4fcd-8bab-f83c87862004.jsonl": (
        {"assistant": 177, "file-history-snapshot": 15, "summary": 2, "user": 122},
        {"message": 83, "meta": 15, "summary": 2, "tool_call": 108, "tool_result": 108},
        31430,
    ),
    "claude/real_projects/-src-deep-manifest/agent-c8d9b115.jsonl": (
        {"assistant": 20, "user": 15},
        {"message": 5, "tool_call": 15, "tool_result": 15},
        840,
    ),
    "claude/real_projects/-src-experiments-claude_p/256ba646-2c15-437a-98e9-4171aafd030e.jsonl": (
        {"assistant": 5, "progress": 1, "queue-operation": 1, "user": 4},
        {"message": 3, "meta": 2, "tool_call": 3, "tool_result": 3},
        53,
    ),
    "claude/real_projects/-src-experiments-claude_p/29ccd257-68b1-427f-ae5f-6524b7cb6f20.jsonl": (
        {"assistant": 2, "progress": 1, "queue-operation": 1, "user": 2},
        {"message": 2, "meta": 2, "tool_call": 1, "tool_result": 1},
        2,
    ),
    (
        "claude/real_projects/-src-experiments-claude_p/29ccd257-68b1-427f-ae5f-6524b7cb6f20"
        "/subagents/agent-a2271d1.jsonl"
    ): (
        {"assistant": 34, "user": 25},
        {"message": 11, "tool_call": 24, "tool_result": 24},
        18,
    ),
    "claude/real_projects/-src-experiments-claude_p/2b4ed4c0-b905-41de-9238-273db3ec737a.jsonl": (
        {"assistant": 12, "progress": 1, "queue-operation": 1, "user": 10},
        {"message": 4, "meta": 2, "tool_call": 9, "tool_result": 9},
        180,
    ),
    "claude/real_projects/-src-experiments-claude_p/94604a7b-062f-4369-bdf0-da948381c3e5.jsonl": (
        {"assistant": 1, "progress": 1, "queue-operation": 1, "user": 1},
        {"message": 2, "meta": 2},
        1,
    ),
    "claude-cli/session-written-by-that-run.jsonl": (
        {"assistant": 2, "attachment": 2, "last-prompt": 1, "queue-operation": 2, "user": 2},
        {"message": 2, "meta": 5, "tool_call": 1, "tool_result": 1},
        14,
    ),
    "claude-cli/stream-json-bash-tool.jsonl": (
        {"assistant": 2, "result": 1, "system": 1, "user": 1},
        {"message": 1, "meta": 1, "system": 1, "tool_call": 1, "tool_result": 1},
        0,
    ),
}

TOTAL_RECORDS = {
    "assistant": 1634 + 4,
    "user": 1092 + 3,
    "system": 131 + 1,
    "summary": 38,
    "attachment": 49 + 2,
    "file-history-snapshot": 31,
    "queue-operation": 26 + 2,
    "permission-mode": 8,
    "last-prompt": 7 + 1,
    "progress": 15,
    "result": 1,
}
TOTAL_EVENTS = {
    "message": 764 + 3,
    "thinking": 167,
    "tool_call": 905 + 2,
    "tool_result": 905 + 2,
    "image": 3,
    "system": 131 + 1,
    "summary": 38,
    "meta": 136 + 6,
}


def test_fixtures_present():
    assert FIXTURES.is_dir(), f"fixtures missing at {FIXTURES}: the shared/ folder must sit beside the repo"
    found = sorted(str(p.relative_to(FIXTURES)) for p in (FIXTURES / "claude").rglob("*.jsonl"))
    found += sorted(str(p.relative_to(FIXTURES)) for p in (FIXTURES / "claude-cli").glob("*.jsonl"))
    assert sorted(found) == sorted(EXPECTED), "a fixture was added or removed: count it and write it down"
    assert len(found) == 99 + 2  # 99 Claude Code files (17 empty), 2 from the CLI run


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_fixture_file(name):
    records, kinds, output_tokens = EXPECTED[name]
    path = FIXTURES / name
    events, meta = parse_bytes("claude", path.read_bytes(), str(path))
    assert dict(meta.record_types) == records
    assert dict(meta.event_kinds) == kinds
    assert meta.output_tokens == output_tokens
    assert meta.malformed == [] and meta.unknown == 0
    assert len(events) == sum(kinds.values())
    if records:
        assert meta.session_id


def test_totals_over_all_files():
    records, kinds = {}, {}
    for rec, kin, _ in EXPECTED.values():
        for k, v in rec.items():
            records[k] = records.get(k, 0) + v
        for k, v in kin.items():
            kinds[k] = kinds.get(k, 0) + v
    assert records == TOTAL_RECORDS
    assert kinds == TOTAL_EVENTS


def test_chunked_feeding_matches_whole_file():
    path = FIXTURES / "claude/real_projects/-experiments-worktrees/ef958aa1-0e93-49f0-bb71-150f63befcd1.jsonl"
    data = path.read_bytes()
    whole, meta = parse_bytes("claude", data, str(path))
    parser = ClaudeParser(str(path))
    chunked = []
    for raw, offset in iter_lines(data):
        chunked.extend(parser.feed(raw, offset))
    assert [(e.offset, e.index, e.kind) for e in chunked] == [(e.offset, e.index, e.kind) for e in whole]
    for e in whole:  # offsets point at the line start in the file
        assert data[e.offset :].split(b"\n", 1)[0].startswith(b"{")
    assert meta.session_id == "ef958aa1-0e93-49f0-bb71-150f63befcd1"
    assert meta.git_branch == "master" and meta.version == "2.1.114"
    assert meta.title == "" or isinstance(meta.title, str)


def test_subagent_files_name_their_parent():
    new = FIXTURES / (
        "claude/real_projects/-experiments-worktrees/ef958aa1-0e93-49f0-bb71-150f63befcd1/"
        "subagents/agent-a4ca7529859c158c2.jsonl"
    )
    _, meta = parse_bytes("claude", new.read_bytes(), str(new))
    assert meta.session_id == "agent-a4ca7529859c158c2"
    assert meta.parent_session_id == "ef958aa1-0e93-49f0-bb71-150f63befcd1"
    old = FIXTURES / "claude/real_projects/-Users-dain-workspace-JSSoundRecorder/agent-88061e52.jsonl"
    events, meta = parse_bytes("claude", old.read_bytes(), str(old))
    assert meta.session_id == "agent-88061e52"
    assert meta.parent_session_id == "7acd37a8-2745-4b58-a8a9-46164b22ad9e"
    assert all(e.is_sidechain for e in events)


def _line(obj) -> bytes:
    return json.dumps(obj).encode() + b"\n"


def test_blocks_usage_dedup_compaction_unknown_and_malformed():
    usage = {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 100}
    msg = {"id": "msg_1", "role": "assistant", "model": "claude-x", "usage": usage}
    lines = [
        _line(
            {
                "type": "user",
                "uuid": "u1",
                "sessionId": "s1",
                "cwd": "/w",
                "gitBranch": "main",
                "version": "2.0",
                "timestamp": "2025-01-01T00:00:00Z",
                "message": {"role": "user", "content": "hello"},
            }
        ),
        _line(
            {
                "type": "assistant",
                "uuid": "a1",
                "parentUuid": "u1",
                "timestamp": "2025-01-01T00:00:01Z",
                "message": {**msg, "content": [{"type": "thinking", "thinking": "hmm"}]},
            }
        ),
        _line(
            {
                "type": "assistant",
                "uuid": "a2",
                "parentUuid": "a1",
                "message": {
                    **msg,
                    "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {"command": "ls"}}],
                },
            }
        ),
        _line(
            {
                "type": "user",
                "uuid": "u2",
                "message": {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "a.txt"}]},
                        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
                        {"type": "hologram", "x": 1},
                    ],
                },
            }
        ),
        _line({"type": "system", "subtype": "compact_boundary", "content": "Conversation compacted"}),
        _line({"type": "user", "isCompactSummary": True, "message": {"role": "user", "content": "summary of it"}}),
        _line({"type": "summary", "summary": "A title", "leafUuid": "a2"}),
        _line({"type": "brand-new-thing", "x": 1}),
        b"{not json\n",
        b"\xff\xfe\n",
        b"\n",
    ]
    parser = ClaudeParser("/home/me/.claude/projects/-w/s1.jsonl")
    events, offset = [], 0
    for raw in lines:
        events.extend(parser.feed(raw, offset))
        offset += len(raw)
    kinds = [e.kind for e in events]
    assert kinds == [
        "message",
        "thinking",
        "tool_call",
        "tool_result",
        "image",
        "unknown",
        "compaction",
        "compaction",
        "summary",
        "unknown",
        "malformed",
        "malformed",
    ]
    meta = parser.meta
    assert meta.session_id == "s1" and meta.cwd == "/w" and meta.git_branch == "main" and meta.model == "claude-x"
    assert (meta.input_tokens, meta.output_tokens, meta.cache_read_tokens) == (10, 5, 100)  # once per message id
    assert events[1].usage == usage and events[2].usage is None
    assert events[2].tool_name == "Bash" and json.loads(events[2].tool_input) == {"command": "ls"}
    assert events[3].tool_output == "a.txt" and events[3].tool_call_id == "t1"
    assert events[4].text == "[image image/png]"
    assert events[1].parent_uuid == "u1"
    assert meta.title == "A title"
    assert meta.unknown == 2 and meta.record_types["brand-new-thing"] == 1
    assert [o for o, _ in meta.malformed] == [sum(map(len, lines[:8])), sum(map(len, lines[:9]))]
    assert meta.started_at == "2025-01-01T00:00:00Z" and meta.ended_at == "2025-01-01T00:00:01Z"


def test_it_reads_lines_the_way_decoding_and_stripping_would():
    """orjson reads the raw bytes first; what it refuses must still get the standard library's reading."""
    lines = [
        b'\x0c{"type":"summary","summary":"form feed around"}\x0c\n',  # str.strip removes it, JSON does not
        b" \t\r\n",  # blank: nothing
        b"\x1c\n",  # not blank as bytes, empty once decoded and stripped
        b'{"type":"summary","summary":"s","n":123456789012345678901234567890}\n',
        b'{"type":"summary","summary":"\xff"}\n',
        b"null\n",
    ]
    parser = ClaudeParser("/p/s.jsonl")
    events = [e for offset, raw in enumerate(lines) for e in parser.feed(raw, offset)]
    assert [(e.offset, e.kind) for e in events] == [
        (0, "summary"),
        (2, "malformed"),
        (3, "summary"),
        (4, "malformed"),
        (5, "malformed"),
    ]
    assert events[0].text == "form feed around" and events[2].text == "s"
    assert [(o, error.split(":")[0]) for o, error in parser.meta.malformed] == [
        (2, "empty line"),
        (4, "not UTF-8"),
        (5, "a JSON NoneType, not an object"),
    ]


def test_usage_of_a_response_is_its_last_snapshot_held_by_one_event():
    def line(uuid, block, output):
        return _line(
            {
                "type": "assistant",
                "uuid": uuid,
                "message": {
                    "id": "msg_9",
                    "role": "assistant",
                    "model": "claude-x",
                    "content": [block],
                    "usage": {"input_tokens": 6, "output_tokens": output, "cache_creation_input_tokens": 15126},
                },
            }
        )

    parser = ClaudeParser("/home/me/.claude/projects/-w/s9.jsonl")
    events, offset = [], 0
    for raw in (
        line("a1", {"type": "thinking", "thinking": "hm"}, 5),
        line("a2", {"type": "text", "text": "there"}, 140),
        line("a3", {"type": "text", "text": "stale copy"}, 140),
    ):
        events.extend(parser.feed(raw, offset))
        offset += len(raw)
    meta = parser.meta
    assert (meta.input_tokens, meta.output_tokens, meta.cache_creation_tokens) == (6, 140, 15126)
    assert [e.usage["output_tokens"] if e.usage else None for e in events] == [None, 140, None]
