"""Credentials never leave the process: not into a run's store, its config,
an export, a report, nor stderr.

Three kinds of secret reach assay's text: a user and password inside a base
URL (``https://user:pass@host/v1``), an ``Authorization`` header a server
echoes back, and the API key itself, which some servers quote in their error
messages. ``redact`` replaces each with ``***``: URL credentials and header
values by their shape, API keys by their common shapes (``sk-...``,
``hf_...``) and by their exact value, registered with ``register_secret`` by
the model that holds them. It is applied where text is stored (the store's
error and verdict columns, the run's config) and where it is printed (the
command line's error line), and the OpenAI-compatible backend names its
endpoints by ``redact_url`` from the start.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import parse_qsl, urlsplit, urlunsplit

MASK = "***"
# Shorter values are masked by their shape only: masking every "1234" or "test"
# in a message would garble it, and a short secret is not one a server echoes.
MIN_SECRET = 6

_SECRETS: set[str] = set()

# scheme://user[:password]@ -> scheme://***@
_URL_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/\s@'\"<>]+)@")
# Authorization: Bearer xyz / "authorization": "Basic xyz" / Bearer xyz
_AUTH_HEADER = re.compile(
    r"(?P<name>\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?)(?:(?P<scheme>bearer|basic|token|digest)\s+)?"
    r"(?P<value>[^\s\"',;}]+)",
    re.IGNORECASE,
)
# A bare "Bearer xyz": a value with a digit or a long one (not "Bearer authentication").
_BEARER = re.compile(r"\b(?P<scheme>Bearer)\s+(?P<value>(?=\S*\d)[A-Za-z0-9._~+/=-]{8,}|[A-Za-z0-9._~+/=-]{20,})")
# api_key=xyz, "api-key": "xyz", x-api-key: xyz, access_token=xyz, password=xyz
_KEY_FIELD = re.compile(
    r"(?P<name>\b(?:x-)?(?:api[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret|password|passwd)\b"
    r"[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<value>[^\s\"'&,;}]+)",
    re.IGNORECASE,
)
# Well-known key shapes: OpenAI (sk-, sk-proj-), Anthropic (sk-ant-), Hugging Face (hf_),
# Google (AIza), GitHub (ghp_, github_pat_), Groq (gsk_), xAI (xai-).
_KEY_SHAPES = re.compile(
    r"\b(?:sk-[A-Za-z0-9_-]{8,}|hf_[A-Za-z0-9]{8,}|AIza[A-Za-z0-9_-]{16,}|gh[pousr]_[A-Za-z0-9]{16,}"
    r"|github_pat_[A-Za-z0-9_]{16,}|gsk_[A-Za-z0-9]{16,}|xai-[A-Za-z0-9]{16,})"
)
_QUERY_SECRETS = {"api_key", "apikey", "api-key", "key", "token", "access_token", "auth", "sig", "signature", "secret"}


def register_secret(value: str | None) -> None:
    """Mask this exact value wherever it appears from now on (API keys, URL passwords)."""
    if value and len(value) >= MIN_SECRET:
        _SECRETS.add(value)


def register_url(url: str) -> None:
    """Mask the credentials a URL carries: its user and password, their Basic
    form (what a server echoing its ``Authorization`` header shows) and secret
    query parameters."""
    try:
        parts = urlsplit(url)
        user, password = parts.username, parts.password
    except ValueError:
        return
    if user or password:
        register_secret(password)
        if password is None:
            register_secret(user)  # https://TOKEN@host: the user is the token
        pair = f"{user or ''}:{password or ''}"
        register_secret(base64.b64encode(pair.encode()).decode())
    for name, value in parse_qsl(parts.query, keep_blank_values=False):
        if name.lower() in _QUERY_SECRETS:
            register_secret(value)


def redact_url(url: str) -> str:
    """The URL without credentials: ``https://user:pass@host/v1?key=K`` -> ``https://***@host/v1?key=***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        query = "&".join(
            f"{name}={MASK}" if name.lower() in _QUERY_SECRETS and value else (f"{name}={value}" if sep else name)
            for name, sep, value in (pair.partition("=") for pair in query.split("&"))
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact(text: str | None) -> str | None:
    """``text`` with every credential it carries replaced by ``***`` (None stays None)."""
    if not text:
        return text
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    text = _URL_USERINFO.sub(lambda m: m["scheme"] + (m["userinfo"] if m["userinfo"] == MASK else MASK) + "@", text)
    text = _AUTH_HEADER.sub(lambda m: m["name"] + (m["scheme"] + " " if m["scheme"] else "") + MASK, text)
    text = _BEARER.sub(lambda m: m["scheme"] + " " + MASK, text)
    text = _KEY_FIELD.sub(lambda m: m["name"] + MASK, text)
    text = _KEY_SHAPES.sub(MASK, text)
    return text
