"""How the task reaches Azure DevOps and STS: the agent's proxy (with its credentials and bypass
list) or the standard proxy variables, and the CA bundle that corporate TLS inspection needs.
Both HTTP clients take their settings from here, so the token request and STS never disagree."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from typing import Optional
from urllib.parse import quote, urlsplit, urlunsplit

from .agent import Agent
from .errors import UserError


@dataclass(frozen=True)
class Network:
    # The agent's proxy with user and password folded in: a secret, never logged.
    agent_proxy: Optional[str] = field(default=None, repr=False)
    agent_proxy_host: str = ""
    bypass: tuple[re.Pattern[str], ...] = ()
    # None: the client's default (certifi's bundle, or the standard variables the client reads itself).
    ca_bundle: Optional[str] = None

    def proxies_for(self, url: str) -> Optional[dict[str, str]]:
        """The agent's proxy for this URL, or None to let the client apply HTTPS_PROXY/NO_PROXY."""
        if not self.agent_proxy or any(p.search(url) for p in self.bypass):
            return None
        return {"http": self.agent_proxy, "https": self.agent_proxy}


DIRECT = Network()


def read_network(agent: Agent) -> Network:
    return Network(*_agent_proxy(agent), ca_bundle=_ca_bundle(agent))


def _agent_proxy(agent: Agent) -> tuple[Optional[str], str, tuple[re.Pattern[str], ...]]:
    url = agent.variable("Agent.ProxyUrl")
    if not url:
        return None, "", ()
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        # Shown without any user name or password the URL may carry.
        shown = f"{parts.scheme}://{parts.netloc.rsplit('@', 1)[-1]}"
        raise UserError(f"The agent's proxy setting '{shown}' is not an http(s) URL.",
                        "Fix the agent's proxy configuration (.proxy file or --proxyurl).")
    user = agent.variable("Agent.ProxyUsername")
    password = agent.secret_variable("Agent.ProxyPassword") or agent.env("AGENT_PROXYPASSWORD")
    # Registered before anything could print it, in both the plain and the URL-encoded form.
    agent.set_secret(password)
    if quote(password, safe="") != password:
        agent.set_secret(quote(password, safe=""))
    netloc = parts.netloc.rsplit("@", 1)[-1]
    if user:
        login = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
        netloc = f"{login}@{netloc}"
    proxy = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    patterns = []
    raw = agent.variable("Agent.ProxyBypassList")
    try:
        entries = json.loads(raw) if raw else []
    except ValueError:
        entries = [raw]
    for entry in entries if isinstance(entries, list) else []:
        try:
            # The agent reads each entry as a regular expression over the URL, case-insensitively.
            patterns.append(re.compile(str(entry), re.IGNORECASE))
        except re.error:
            raise UserError(f"The agent's proxy bypass entry '{entry}' is not a valid regular expression.",
                            "Fix the agent's .proxybypass file.") from None
    return proxy, parts.hostname, tuple(patterns)


def _ca_bundle(agent: Agent) -> Optional[str]:
    # One bundle serves both clients: a TLS-inspecting proxy re-signs Azure DevOps and AWS alike.
    for name in ("AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        path = agent.env(name)
        if path:
            if not os.path.isfile(path) and not os.path.isdir(path):
                raise UserError(f"{name} points at '{path}', which does not exist on this agent.",
                                f"Point {name} at a PEM file of the CA certificates to trust, or unset it.")
            return path
    return None


def tls_advice(host: str) -> str:
    return (f"The TLS certificate of {host} could not be verified. If a proxy on your network inspects TLS, "
            "set REQUESTS_CA_BUNDLE (or AWS_CA_BUNDLE) to a PEM file holding its CA certificate; the task "
            "never turns verification off.")
