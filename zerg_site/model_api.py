"""``/api/model``: which model Zerg talks to, and whether it answers.

Settings shows the provider and model in use; its "Test" button makes one tiny real request
through the same provider the chat and the ``agent`` backend use (``zerg_site.llm``), so a
wrong key, a stopped Ollama or a mistyped model name shows there rather than mid-chat. The
reply is model output: data, returned as plain text and shown as text.
"""

from __future__ import annotations

from ninja import Router
from ninja.errors import HttpError

from zerg_site import llm
from zerg_site.llm.base import ProviderError
from zerg_site.schemas import ModelOut, ModelTestOut, owner

router = Router(tags=["model"])

PROMPT = "Reply with the single word: pong"
MAX_TOKENS = 16
TIMEOUT = 30.0
REPLY_CHARS = 200


def described() -> dict:
    picked = llm.choice()
    if picked is None:
        return {"configured": False, "provider": "", "model": "", "base_url": "", "fix": llm.HOW_TO_CONFIGURE}
    return {
        "configured": True,
        "provider": picked["kind"],
        "model": picked["model"] or llm.default_model(picked["kind"]),
        "base_url": picked["base_url"],
        "fix": "",
    }


@router.get("", response=owner(ModelOut))
def model_view(request):
    """The configured provider and model (never its key)."""
    return described()


@router.post("/test", response=owner(ModelTestOut, 409))
def model_test(request):
    """One tiny request to the model (a few tokens); ``ok`` false with the provider's error when it fails."""
    picked = llm.choice()
    if picked is None:
        raise HttpError(409, llm.HOW_TO_CONFIGURE)
    kind = picked.pop("kind")
    options = {"max_retries": 0, "timeout": TIMEOUT} if kind == "anthropic" else {}
    about = described()
    try:
        provider = llm.make_provider(kind, **picked, **options)
        reply = provider.stream(
            system="",
            messages=[{"role": "user", "content": PROMPT}],
            tools=[],
            max_tokens=MAX_TOKENS,
            on_text=lambda _text: None,
        )
    except ProviderError as exc:
        return {"ok": False, "provider": kind, "model": about["model"], "reply": "", "detail": exc.message}
    text = "".join(b.get("text", "") for b in reply.content if b.get("type") == "text").strip()
    return {
        "ok": True,
        "provider": kind,
        "model": reply.model or about["model"],
        "reply": text[:REPLY_CHARS],
        "detail": "",
    }
