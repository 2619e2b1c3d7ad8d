"""Proxies and TLS, with real parts: a forwarding proxy on loopback (CONNECT and absolute URIs,
Basic authentication) and the issuer and STS stand-ins serving TLS from a test CA (trustme). The
task runs from the built .vsix, with its own vendored requests, botocore and certifi."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from awswif.trust import trust_policy

from agent_env import ACCOUNT, ROLE_ARN, agent_environment
from fakes import Issuer, Proxy, Sts
from launcher import Run, run_launcher

PASSWORD = "pr0xy;p@ss%word]"


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    server = Proxy("builder", PASSWORD)
    yield server
    server.close()


def agent_proxy(proxy: Proxy, password: str = PASSWORD, **extra: str) -> dict[str, str]:
    return {"AGENT_PROXYURL": proxy.url, "AGENT_PROXYUSERNAME": "builder", "SECRET_AGENT_PROXYPASSWORD": password,
            "VSTS_SECRET_VARIABLES": json.dumps(["System.AccessToken", "Agent.ProxyPassword"]), **extra}


def launch(issuer: Issuer, sts: Sts, task: Path, extra: dict[str, str]) -> Run:
    env = agent_environment(issuer, sts, task)
    env.update(extra)
    return run_launcher(task, env)


def assert_no_leak(run: Run, issuer: Issuer, *more: str) -> None:
    secrets = [issuer.access_token, *issuer.minted, *more,
               *(run.view.variables.get(n, "") for n in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"))]
    assert run.leaks(*secrets) == []


def test_agent_proxy_with_credentials_carries_both_calls(issuer: Issuer, sts: Sts, vsix_task_dir: Path,
                                                         proxy: Proxy) -> None:
    run = launch(issuer, sts, vsix_task_dir, agent_proxy(proxy, SYSTEM_DEBUG="true"))
    assert run.view.result == "Succeeded", run.stdout
    targets = [target for _, target in proxy.requests]
    assert any(t.startswith(issuer.url) and t.split("?")[0].endswith("/oidctoken") for t in targets)
    assert any(t.startswith(sts.url) for t in targets)
    assert PASSWORD in run.view.masked
    assert_no_leak(run, issuer, PASSWORD, "pr0xy%3Bp%40ss%25word%5D")


def test_wrong_proxy_password(issuer: Issuer, sts: Sts, vsix_task_dir: Path, proxy: Proxy) -> None:
    run = launch(issuer, sts, vsix_task_dir, agent_proxy(proxy, password="wrong-secret"))
    assert run.view.result == "Failed"
    assert len(run.view.errors) == 1 and "refused its credentials (HTTP 407)" in run.view.errors[0]
    assert proxy.refused and issuer.token_requests == []
    assert_no_leak(run, issuer, "wrong-secret")


def test_agent_bypass_list(issuer: Issuer, sts: Sts, vsix_task_dir: Path, proxy: Proxy) -> None:
    extra = agent_proxy(proxy, AGENT_PROXYBYPASSLIST=json.dumps([r"127\.0\.0\.1"]))
    run = launch(issuer, sts, vsix_task_dir, extra)
    assert run.view.result == "Succeeded", run.stdout
    assert proxy.requests == [] and proxy.refused == []


@pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)
@pytest.mark.parametrize(("no_proxy", "proxied"), [("", True), ("127.0.0.1", False)])
def test_standard_proxy_variables(issuer: Issuer, sts: Sts, vsix_task_dir: Path, no_proxy: str, proxied: bool) -> None:
    open_proxy = Proxy()
    try:
        run = launch(issuer, sts, vsix_task_dir, {"HTTP_PROXY": open_proxy.url, "HTTPS_PROXY": open_proxy.url,
                                                 "NO_PROXY": no_proxy})
        assert run.view.result == "Succeeded", run.stdout
        targets = [t for _, t in open_proxy.requests]
        assert (any(t.startswith(issuer.url) for t in targets) and any(t.startswith(sts.url) for t in targets)) == proxied
        assert bool(targets) == proxied
    finally:
        open_proxy.close()


# -- TLS -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_world(ca: trustme.CA, tmp_path: Path) -> Iterator[tuple[Issuer, Sts, Path]]:
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    issuer = Issuer("entra", tls=server_ctx)
    sts = Sts(tls=server_ctx, jwks_ssl=client_ctx)
    sts.add_provider(ACCOUNT, issuer.issuer, issuer.jwks_url)
    sts.add_role(ROLE_ARN, trust_policy(ACCOUNT, issuer.issuer, [issuer.subject]))
    bundle = tmp_path / "corporate-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    yield issuer, sts, bundle
    issuer.close()
    sts.close()


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE"])
def test_custom_ca_bundle_serves_both_clients(tls_world: tuple[Issuer, Sts, Path], vsix_task_dir: Path,
                                              variable: str) -> None:
    issuer, sts, bundle = tls_world
    assert issuer.url.startswith("https://") and sts.url.startswith("https://")
    run = launch(issuer, sts, vsix_task_dir, {variable: str(bundle)})
    assert run.view.result == "Succeeded", run.stdout
    assert len(issuer.token_requests) == 1 and [c["Action"] for c in sts.calls] == ["AssumeRoleWithWebIdentity"]


def test_untrusted_certificate_fails_once_with_advice(tls_world: tuple[Issuer, Sts, Path], vsix_task_dir: Path) -> None:
    issuer, sts, _ = tls_world
    run = launch(issuer, sts, vsix_task_dir, {})
    assert run.view.result == "Failed"
    assert len(run.view.errors) == 1
    assert "could not be verified" in run.view.errors[0] and "REQUESTS_CA_BUNDLE" in run.view.errors[0]
    assert "Token request attempt" not in run.stdout, "a certificate problem is not retried"
    assert run.view.variables == {}


def test_untrusted_sts_certificate(tls_world: tuple[Issuer, Sts, Path], vsix_task_dir: Path) -> None:
    issuer, _, bundle = tls_world
    other = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    other.issue_cert("127.0.0.1").configure_cert(ctx)
    sts = Sts(tls=ctx)  # its certificate comes from a CA the agent does not trust
    try:
        run = launch(issuer, sts, vsix_task_dir, {"REQUESTS_CA_BUNDLE": str(bundle)})
        assert run.view.result == "Failed"
        assert "could not be verified" in run.view.errors[0] and "127.0.0.1" in run.view.errors[0]
        assert sts.calls == []
    finally:
        sts.close()


def test_missing_ca_bundle_file(issuer: Issuer, sts: Sts, vsix_task_dir: Path, tmp_path: Path) -> None:
    run = launch(issuer, sts, vsix_task_dir, {"AWS_CA_BUNDLE": str(tmp_path / "nope.pem")})
    assert run.view.result == "Failed" and "AWS_CA_BUNDLE points at" in run.view.errors[0]
    assert issuer.token_requests == []


def test_tls_through_the_agent_proxy(tls_world: tuple[Issuer, Sts, Path], vsix_task_dir: Path, proxy: Proxy) -> None:
    issuer, sts, bundle = tls_world
    run = launch(issuer, sts, vsix_task_dir, {**agent_proxy(proxy), "REQUESTS_CA_BUNDLE": str(bundle)})
    assert run.view.result == "Succeeded", run.stdout
    tunnels = {target for method, target in proxy.requests if method == "CONNECT"}
    assert tunnels == {issuer.url.split("//")[1], sts.url.split("//")[1]}
    assert_no_leak(run, issuer, PASSWORD)


@pytest.mark.parametrize("issuer", ["azure-devops"], indirect=True)
@pytest.mark.parametrize(("extra", "message"), [
    ({"AGENT_PROXYURL": "ftp://builder:hunter2@proxy:8080"}, "'ftp://proxy:8080' is not an http(s) URL"),
    ({"AGENT_PROXYURL": "http://proxy:8080", "AGENT_PROXYBYPASSLIST": '["(unclosed"]'}, "not a valid regular expression"),
])
def test_bad_agent_proxy_settings(issuer: Issuer, sts: Sts, source_task_dir: Path, extra: dict[str, str],
                                  message: str) -> None:
    run = launch(issuer, sts, source_task_dir, extra)
    assert run.returncode == 0 and run.view.result == "Failed"
    assert len(run.view.errors) == 1 and message in run.view.errors[0]
    assert "hunter2" not in run.stdout and issuer.token_requests == [] and run.view.variables == {}
