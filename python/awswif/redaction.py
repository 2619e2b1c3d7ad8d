"""The one redaction every diagnostic passes through before it is printed: the secret values this
process has seen (the job access token, each OIDC token, every AWS key it received) and anything
shaped like a credential in a response body or an exception's text (an STS answer cut short
carries its keys in botocore's parse error, before any of them could be registered with the agent).

The agent masks only what it has been told about, and only from the moment it reads the command;
tracebacks under System.Debug and credential_process's stderr (shown by the SDK that ran it) are
printed where that has not happened yet, so they are redacted here, by value and by shape."""

from __future__ import annotations

import re
import threading

MASK = "***"
# Shorter values are no secret worth masking and would blank out ordinary words.
_MIN_LENGTH = 8
_seen: set[str] = set()
_lock = threading.Lock()

# Credential shapes, whoever wrote them: STS's XML, the JSON of credential_process and of the token
# endpoint, INI files, HTTP headers, JWTs, AWS access key ids.
_SHAPES = (
    re.compile(r"""(<(?:AccessKeyId|SecretAccessKey|SessionToken|WebIdentityToken)>)[^<\s'"]*"""),
    re.compile(r"""((?<!\w)["']?(?:AccessKeyId|SecretAccessKey|SessionToken|oidcToken|WebIdentityToken|accessToken)"""
               r"""["']?\s*[:=]\s*["']?)[^"',\s}]+""", re.IGNORECASE),
    re.compile(r"((?<!\w)(?:aws_access_key_id|aws_secret_access_key|aws_session_token)\s*=\s*)\S+", re.IGNORECASE),
    re.compile(r"(\bBearer\s+)[\w\-.~+/=]+"),
    re.compile(r"()\beyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*"),
    re.compile(r"()\b(?:ASIA|AKIA)[A-Z0-9]{16}\b"),
)


def remember(*values: str, minimum: int = _MIN_LENGTH) -> None:
    """A value is secret from now on: every later redaction masks it (each line of it on its own)."""
    with _lock:
        for value in values:
            for part in re.split(r"\r\n|\n|\r", value or ""):
                if len(part) >= max(1, minimum):
                    _seen.add(part)


def redact(text: str) -> str:
    """The text with every remembered value and every credential-shaped value masked."""
    with _lock:
        known = sorted(_seen, key=len, reverse=True)  # the longer first: one may contain another
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    for shape in _SHAPES:
        text = shape.sub(lambda m: m.group(1) + MASK, text)
    return text
