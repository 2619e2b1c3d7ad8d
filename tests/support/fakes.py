"""Stand-ins for what cannot exist here, as real HTTP servers on 127.0.0.1: Azure DevOps' OIDC token
endpoint (minting RS256 tokens of both issuer families, serving its JWKS) and AWS STS (verifying a
token's signature against that JWKS, its issuer, audience and a trust policy, answering in STS XML,
and checking SigV4 signatures made with the credentials it issued)."""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import secrets
import select
import socket
import socketserver
import ssl
import string
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

AUDIENCE = "api://AzureADTokenExchange"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"


@dataclass
class Reply:
    """A scripted answer: status/body/headers, an optional delay, or a dropped connection."""

    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False
    # Send the headers and half the body, then reset the connection.
    cut: bool = False


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gives up mid-answer is what the fault tests provoke


class _Server:
    def __init__(self, handle: Callable[[BaseHTTPRequestHandler, str], None],
                 tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                handle(self, "GET")

            def do_POST(self) -> None:
                handle(self, "POST")

            # S3's verbs, for S3Front.
            def do_PUT(self) -> None:
                handle(self, "PUT")

            def do_HEAD(self) -> None:
                handle(self, "HEAD")

            def do_DELETE(self) -> None:
                handle(self, "DELETE")

            def log_message(self, *args: Any) -> None:
                pass

        assert ipaddress.ip_address(host).is_loopback, "stand-ins listen on loopback only"
        self.httpd = _QuietServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"{'https' if tls else 'http'}://{host}:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self._outer = outer

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
    if reply.delay:
        time.sleep(reply.delay)
    if reply.drop:
        handler.close_connection = True
        handler.wfile.flush()
        handler.connection.close()
        return
    body = reply.body.encode() if isinstance(reply.body, str) else reply.body
    handler.send_response(reply.status)
    for k, v in reply.headers.items():
        handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if reply.cut:
        handler.wfile.write(body[: len(body) // 2])
        handler.wfile.flush()
        handler.close_connection = True
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.connection.close()
        return
    handler.wfile.write(body)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host == "localhost"


def read_body(handler: BaseHTTPRequestHandler) -> bytes:
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


def random_string(n: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


# ---------------------------------------------------------------------------------------------
class Issuer:
    """Azure DevOps' per-job OIDC endpoint (System.OidcRequestUri) and the issuer's JWKS."""

    def __init__(self, family: str = "azure-devops", tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self.family = family
        self.organization_id = str(uuid.uuid4())
        self.tenant_id = str(uuid.uuid4())
        self.connection_id = str(uuid.uuid4())
        self.connection_name = "wifconnectionname"
        self.app_id = random_string(22)
        self.access_token = "job-token-" + random_string(40)
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = "kid-" + random_string(8)
        self.lifetime = 600
        self.claim_overrides: dict[str, Any] = {}
        self.replies: list[Reply] = []
        self.token_requests: list[dict[str, Any]] = []
        self.minted: list[str] = []
        self.delay = 0.0
        self._server = _Server(self._handle, tls, host)
        self.url = self._server.url

    @property
    def issuer(self) -> str:
        if self.family == "entra":
            return f"https://login.microsoftonline.com/{self.tenant_id}/v2.0"
        return f"https://vstoken.dev.azure.com/{self.organization_id}"

    @property
    def subject(self) -> str:
        if self.family == "entra":
            tenant = base64.urlsafe_b64encode(uuid.UUID(self.tenant_id).bytes).decode().rstrip("=")
            return f"/eid1/c/pub/t/{tenant}/a/{self.app_id}/sc/{self.organization_id}/{self.connection_id}"
        return f"sc://contoso/infra/{self.connection_name}"

    @property
    def request_uri(self) -> str:
        return f"{self.url}/{uuid.uuid4()}/_apis/distributedtask/hubs/build/plans/{uuid.uuid4()}/jobs/{uuid.uuid4()}/oidctoken"

    @property
    def github_request_url(self) -> str:
        """ACTIONS_ID_TOKEN_REQUEST_URL as a GitHub Actions runner sets it (a query string already in
        it, to which @actions/core appends `&audience=`), for running configure-aws-credentials."""
        return f"{self.url}/{uuid.uuid4()}/_apis/distributedtask/hubs/Actions/plans/{uuid.uuid4()}/jobs/{uuid.uuid4()}/idtoken?api-version=2.0"

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/.well-known/jwks"

    def mint(self, **overrides: Any) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": self.subject, "aud": AUDIENCE, "iat": now, "nbf": now,
                  "exp": now + self.lifetime, "jti": str(uuid.uuid4())}
        claims.update(self.claim_overrides)
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})
        self.minted.append(token)
        return token

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        if method == "GET" and parts.path == "/.well-known/jwks":
            return send(handler, Reply(200, json.dumps(self.jwks()), {"Content-Type": "application/json"}))
        if method == "GET" and parts.path == "/.well-known/openid-configuration":
            doc = {"issuer": self.issuer, "jwks_uri": self.jwks_url}
            return send(handler, Reply(200, json.dumps(doc), {"Content-Type": "application/json"}))
        if method == "GET" and parts.path.endswith("/idtoken"):
            return self._github_token(handler, {k: v[0] for k, v in parse_qs(parts.query).items()})
        if method != "POST" or not parts.path.endswith("/oidctoken"):
            return send(handler, Reply(404, "{}"))
        body = read_body(handler)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.token_requests.append({"query": query, "headers": dict(handler.headers.items()), "body": body,
                                    "at": time.monotonic()})
        if self.replies:
            return send(handler, self.replies.pop(0))
        time.sleep(self.delay)
        return send(handler, self._answer(handler, query))

    def _answer(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> Reply:
        js = {"Content-Type": "application/json; charset=utf-8"}
        if handler.headers.get("Authorization") != f"Bearer {self.access_token}":
            if handler.headers.get("X-TFS-FedAuthRedirect") != "Suppress":
                return Reply(302, "<html>sign in</html>", {"Location": "https://spsprodweu5.vssps.visualstudio.com/_signin"})
            return Reply(401, json.dumps({"message": "TF400813: The user is not authorized to access this resource."}), js)
        if query.get("api-version") != "7.1":
            return Reply(400, json.dumps({"message": "No api-version was supplied for the POST request."}), js)
        if query.get("serviceConnectionId") != self.connection_id:
            message = (f"There is no explicit reference to service connection {query.get('serviceConnectionId')} "
                       "from current stage. Make sure the service connection is referenced by a task input.")
            return Reply(400, json.dumps({"message": message}), js)
        return Reply(200, json.dumps({"oidcToken": self.mint()}), js)

    def _github_token(self, handler: BaseHTTPRequestHandler, query: dict[str, str]) -> None:
        """GitHub Actions' token endpoint, the other OIDC client the benchmark runs: GET with the
        runner's request token as a bearer, the audience in the query, answering {"count", "value"}
        (docs.github.com, "Configuring OpenID Connect in cloud providers", requesting the JWT with
        ACTIONS_ID_TOKEN_REQUEST_URL/TOKEN; @actions/core oidc-utils.ts reads `value`). The token is
        this issuer's, so STS and the trust policy treat it as they treat the task's."""
        self.token_requests.append({"query": query, "headers": dict(handler.headers.items()), "body": b"",
                                    "at": time.monotonic()})
        if self.replies:
            return send(handler, self.replies.pop(0))
        time.sleep(self.delay)
        scheme, _, credential = handler.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or credential != self.access_token:
            return send(handler, Reply(401, json.dumps({"message": "Unauthorized"}), {"Content-Type": "application/json"}))
        token = self.mint(aud=query.get("audience", AUDIENCE))
        return send(handler, Reply(200, json.dumps({"count": 1, "value": token}), {"Content-Type": "application/json"}))

    def close(self) -> None:
        self._server.close()


def policy_arns(form: dict[str, str]) -> list[str]:
    """PolicyArns as the query protocol sends a list: PolicyArns.member.N.arn, N from 1."""
    found = {int(m.group(1)): v for k, v in form.items() if (m := re.fullmatch(r"PolicyArns\.member\.(\d+)\.arn", k))}
    return [found[n] for n in sorted(found)]


def session_tags(form: dict[str, str]) -> list[tuple[str, str]]:
    """Tags as the query protocol sends them: Tags.member.N.Key / Tags.member.N.Value (STS API
    reference, AssumeRole, Tags; botocore's query serializer numbers list members from 1)."""
    keys = {int(m.group(1)): v for k, v in form.items() if (m := re.fullmatch(r"Tags\.member\.(\d+)\.Key", k))}
    return [(keys[n], form.get(f"Tags.member.{n}.Value", "")) for n in sorted(keys)]


def transitive_tag_keys(form: dict[str, str]) -> list[str]:
    found = {int(m.group(1)): v for k, v in form.items() if (m := re.fullmatch(r"TransitiveTagKeys\.member\.(\d+)", k))}
    return [found[n] for n in sorted(found)]


# ---------------------------------------------------------------------------------------------
@dataclass
class Role:
    arn: str
    trust_policy: dict[str, Any]
    max_session_duration: int = 3600


@dataclass
class Session:
    secret_access_key: str
    session_token: str
    assumed_role_arn: str
    assumed_role_id: str
    account: str
    expiration: datetime
    role_arn: str = ""
    # The session policies it was issued with, as sent.
    policy: str | None = None
    policy_arns: tuple[str, ...] = ()
    # The session tags and source identity it was issued with (AssumeRole).
    tags: tuple[tuple[str, str], ...] = ()
    source_identity: str | None = None


class Sts:
    """AWS STS: AssumeRoleWithWebIdentity, AssumeRole (role chaining with a session it issued) and
    GetCallerIdentity, checked as AWS checks them, for any number of accounts (a role's account is
    in its ARN). Every call is recorded with the parameters the tests look at."""

    def __init__(self, tls: ssl.SSLContext | None = None, jwks_ssl: ssl.SSLContext | None = None,
                 host: str = "127.0.0.1") -> None:
        self.jwks_ssl = jwks_ssl
        self.providers: dict[tuple[str, str], dict[str, Any]] = {}  # (account, issuer) -> provider
        self.roles: dict[str, Role] = {}
        self.sessions: dict[str, Session] = {}
        self.replies: list[Reply] = []
        self.calls: list[dict[str, Any]] = []
        # Tokens STS answers ExpiredTokenException for, whichever call brings them (a scripted fault
        # that, unlike replies, does not depend on which concurrent call arrives first).
        self.expired_tokens: set[str] = set()
        self.delay = 0.0
        self._server = _Server(self._handle, tls, host)
        self.url = self._server.url

    def add_provider(self, account: str, issuer: str, jwks_url: str, audiences: tuple[str, ...] = (AUDIENCE,)) -> None:
        self.providers[(account, issuer)] = {"jwks": jwt.PyJWKClient(jwks_url, cache_keys=False, ssl_context=self.jwks_ssl),
                                             "audiences": audiences}

    def add_role(self, arn: str, trust_policy: dict[str, Any], max_session_duration: int = 3600) -> None:
        self.roles[arn] = Role(arn, trust_policy, max_session_duration)

    def error(self, code: str, message: str, status: int = 400, sender: bool = True) -> Reply:
        body = (f'<ErrorResponse xmlns="{STS_NS}"><Error><Type>{"Sender" if sender else "Receiver"}</Type>'
                f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
                f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>")
        return Reply(status, body, {"Content-Type": "text/xml"})

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        body = read_body(handler) if method == "POST" else b""
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        form.update({k: v[0] for k, v in parse_qs(urlsplit(handler.path).query).items()})
        call: dict[str, Any] = {"Action": form.get("Action", ""),
                                **{k: form[k] for k in ("RoleArn", "RoleSessionName", "DurationSeconds", "Policy")
                                   if k in form}}
        arns = policy_arns(form)
        if arns:
            call["PolicyArns"] = arns
        tags, transitive = session_tags(form), transitive_tag_keys(form)
        if tags:
            call["Tags"] = tags
        if transitive:
            call["TransitiveTagKeys"] = transitive
        for key in ("SourceIdentity", "ExternalId"):
            if key in form:
                call[key] = form[key]
        caller = self.caller_of(handler)
        if caller:
            call["Caller"] = caller
        scope = re.search(r"Credential=[^/]+/\d{8}/([^/]+)/sts/", handler.headers.get("Authorization", ""))
        if scope:
            call["SigningRegion"] = scope.group(1)
        self.calls.append(call)
        if self.replies:
            return send(handler, self.replies.pop(0))
        time.sleep(self.delay)
        action = form.get("Action")
        if action == "AssumeRoleWithWebIdentity":
            return send(handler, self._assume(form))
        if action == "AssumeRole":
            return send(handler, self._assume_role(handler, body, form))
        if action == "GetCallerIdentity":
            return send(handler, self._caller_identity(handler, body))
        return send(handler, self.error("InvalidAction", f"Could not find operation {action}"))

    def _assume(self, form: dict[str, str]) -> Reply:
        arn, name, token = form.get("RoleArn", ""), form.get("RoleSessionName", ""), form.get("WebIdentityToken", "")
        duration = int(form.get("DurationSeconds") or 3600)
        if not re.fullmatch(r"[\w+=,.@-]{2,64}", name, re.ASCII):
            return self.error("ValidationError", f"1 validation error detected: Value '{name}' at 'roleSessionName' "
                              "failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*")
        account = arn.split(":")[4] if arn.count(":") >= 5 else ""
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            return self.error("InvalidIdentityToken", "The ID Token provided is not a valid JWT. (You may see this error if you sent an Access Token)")
        if token in self.expired_tokens:
            return self.error("ExpiredTokenException", "Token expired: current date/time must be before the expiration date/time.")
        issuer = unverified.get("iss", "")
        provider = self.providers.get((account, issuer))
        if provider is None:
            return self.error("InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {issuer}")
        try:
            key = provider["jwks"].get_signing_key_from_jwt(token)
            claims = jwt.decode(token, key.key, algorithms=["RS256"], issuer=issuer,
                                options={"verify_aud": False, "require": ["exp", "iss", "sub"]})
        except jwt.ExpiredSignatureError:
            return self.error("ExpiredTokenException", "Token expired: current date/time must be before the expiration date/time.")
        except jwt.PyJWKClientError:
            return self.error("InvalidIdentityToken", "Couldn't retrieve verification key from your identity provider, please reference AssumeRoleWithWebIdentity documentation for requirements")
        except jwt.PyJWTError as exc:
            return self.error("InvalidIdentityToken", f"Token verification failed: {exc}")
        if claims.get("aud") not in provider["audiences"]:
            return self.error("InvalidIdentityToken", "Incorrect token audience")
        role = self.roles.get(arn)
        if role is None or not self._trusts(role.trust_policy, account, issuer, claims):
            return self.error("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity", 403)
        if duration > role.max_session_duration:
            return self.error("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        refused = self._policy_problem(form)
        if refused:
            return refused
        session = self._issue(account, arn, name, duration, form.get("Policy"), tuple(policy_arns(form)))
        access_key = next(k for k, v in self.sessions.items() if v is session)
        expiration = session.expiration.strftime("%Y-%m-%dT%H:%M:%SZ")
        body = (f'<AssumeRoleWithWebIdentityResponse xmlns="{STS_NS}"><AssumeRoleWithWebIdentityResult>'
                f"<Audience>{escape(claims['aud'])}</Audience>"
                f"<SubjectFromWebIdentityToken>{escape(claims['sub'])}</SubjectFromWebIdentityToken>"
                f"<AssumedRoleUser><Arn>{escape(session.assumed_role_arn)}</Arn>"
                f"<AssumedRoleId>{session.assumed_role_id}</AssumedRoleId></AssumedRoleUser>"
                f"<Credentials><AccessKeyId>{access_key}</AccessKeyId><SecretAccessKey>{session.secret_access_key}"
                f"</SecretAccessKey><SessionToken>{session.session_token}</SessionToken>"
                f"<Expiration>{expiration}</Expiration></Credentials>"
                f"<Provider>{escape(issuer)}</Provider></AssumeRoleWithWebIdentityResult>"
                f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
                "</AssumeRoleWithWebIdentityResponse>")
        return Reply(200, body, {"Content-Type": "text/xml"})

    def _issue(self, account: str, role_arn: str, name: str, duration: int, policy: str | None = None,
               arns: tuple[str, ...] = ()) -> Session:
        role_name = role_arn.rsplit("/", 1)[-1]
        role_id = "AROA" + random_string(17, string.ascii_uppercase + string.digits)
        session = Session(
            secret_access_key=random_string(40),
            session_token="IQoJb3JpZ2luX2Vj" + random_string(300),
            assumed_role_arn=f"arn:aws:sts::{account}:assumed-role/{role_name}/{name}",
            assumed_role_id=f"{role_id}:{name}",
            account=account,
            expiration=datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=duration),
            role_arn=role_arn,
            policy=policy,
            policy_arns=arns,
        )
        self.sessions["ASIA" + random_string(16, string.ascii_uppercase + string.digits)] = session
        return session

    @staticmethod
    def _trusts(policy: dict[str, Any], account: str, issuer: str, claims: dict[str, Any]) -> bool:
        host = issuer.split("://", 1)[1]
        provider_arn = f"arn:aws:iam::{account}:oidc-provider/{host}"
        context = {f"{host}:sub": claims.get("sub"), f"{host}:aud": claims.get("aud")}
        for statement in policy.get("Statement", []):
            actions = statement.get("Action")
            actions = [actions] if isinstance(actions, str) else actions or []
            federated = statement.get("Principal", {}).get("Federated")
            federated = [federated] if isinstance(federated, str) else federated or []
            if statement.get("Effect") != "Allow" or "sts:AssumeRoleWithWebIdentity" not in actions:
                continue
            if provider_arn not in federated:
                continue
            if all(Sts._condition_holds(op, tests, context) for op, tests in statement.get("Condition", {}).items()):
                return True
        return False

    @staticmethod
    def _condition_holds(op: str, tests: dict[str, Any], context: dict[str, Any]) -> bool:
        for key, allowed in tests.items():
            allowed = [allowed] if isinstance(allowed, str) else allowed
            value = context.get(key)
            if value is None:
                return False
            if op == "StringEquals" and value not in allowed:
                return False
            if op == "StringLike" and not any(re.fullmatch(re.escape(a).replace(r"\*", ".*").replace(r"\?", "."), value) for a in allowed):
                return False
            if op not in ("StringEquals", "StringLike"):
                return False
        return True

    def _policy_problem(self, form: dict[str, str]) -> Reply | None:
        """Session policy limits of the STS API reference (AssumeRole, AssumeRoleWithWebIdentity):
        Policy 1-2048 characters of valid JSON; PolicyArns at most 10."""
        policy = form.get("Policy")
        if policy is not None:
            if len(policy) > 2048:
                return self.error("ValidationError", "1 validation error detected: Value at 'policy' failed to satisfy "
                                  "constraint: Member must have length less than or equal to 2048")
            try:
                json.loads(policy)
            except ValueError:
                return self.error("MalformedPolicyDocument", "The policy is not in the valid JSON format.")
        if len(policy_arns(form)) > 10:
            return self.error("ValidationError", "1 validation error detected: Value at 'policyArns' failed to satisfy "
                              "constraint: Member must have length less than or equal to 10")
        return None

    def caller_of(self, handler: BaseHTTPRequestHandler) -> str:
        """The assumed-role ARN of a signed request's session (unverified: only for the record)."""
        match = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/", handler.headers.get("Authorization", ""))
        session = self.sessions.get(match.group(1)) if match else None
        return session.assumed_role_arn if session else ""

    def _authenticate(self, handler: BaseHTTPRequestHandler, body: bytes) -> Session | Reply:
        """SigV4 as AWS checks it: the access key names a session this STS issued, the session token
        matches, and the signature recomputed with its secret key is the one sent."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.credentials import Credentials

        auth = handler.headers.get("Authorization", "")
        match = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/\d{8}/([^/]+)/sts/aws4_request, "
                         r"SignedHeaders=([^,]+), Signature=([0-9a-f]+)", auth)
        if not match:
            return self.error("MissingAuthenticationToken", "Request is missing Authentication Token", 403)
        access_key, region, signed, signature = match.groups()
        session = self.sessions.get(access_key)
        if session is None:
            return self.error("InvalidClientTokenId", "The security token included in the request is invalid.", 403)
        if handler.headers.get("X-Amz-Security-Token") != session.session_token:
            return self.error("InvalidClientTokenId", "The security token included in the request is invalid.", 403)
        headers = {h: handler.headers.get(h, "") for h in signed.split(";")}
        request = AWSRequest(method="POST", url=f"http://{handler.headers['Host']}{handler.path}", data=body, headers=headers)
        request.context["timestamp"] = handler.headers.get("X-Amz-Date", "")
        signer = SigV4Auth(Credentials(access_key, session.secret_access_key, session.session_token), "sts", region)
        expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
        if expected != signature:
            return self.error("SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.", 403)
        if session.expiration <= datetime.now(timezone.utc):
            return self.error("ExpiredToken", "The security token included in the request is expired", 403)
        return session

    def _caller_identity(self, handler: BaseHTTPRequestHandler, body: bytes) -> Reply:
        session = self._authenticate(handler, body)
        if isinstance(session, Reply):
            return session
        body_xml = (f'<GetCallerIdentityResponse xmlns="{STS_NS}"><GetCallerIdentityResult>'
                    f"<Arn>{escape(session.assumed_role_arn)}</Arn><UserId>{escape(session.assumed_role_id)}</UserId>"
                    f"<Account>{session.account}</Account></GetCallerIdentityResult>"
                    f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></GetCallerIdentityResponse>")
        return Reply(200, body_xml, {"Content-Type": "text/xml"})

    def _assume_role(self, handler: BaseHTTPRequestHandler, body: bytes, form: dict[str, str]) -> Reply:
        """AssumeRole with the credentials of a role session this STS issued: role chaining."""
        caller = self._authenticate(handler, body)
        if isinstance(caller, Reply):
            return caller
        arn, name = form.get("RoleArn", ""), form.get("RoleSessionName", "")
        duration = int(form.get("DurationSeconds") or 3600)
        if not re.fullmatch(r"[\w+=,.@-]{2,64}", name, re.ASCII):
            return self.error("ValidationError", f"1 validation error detected: Value '{name}' at 'roleSessionName' "
                              "failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*")
        role = self.roles.get(arn)
        tags, transitive = session_tags(form), transitive_tag_keys(form)
        source_identity = form.get("SourceIdentity")
        if role is None or not self._trusts_role(role.trust_policy, caller.role_arn, "sts:AssumeRole",
                                                 form.get("ExternalId")):
            # AWS's message for an assumed-role caller the trust policy does not admit, as AWS knowledge
            # center "iam-assume-role-error" shows it (it also needs the caller's own permission to
            # assume the role, in its identity policy: both sides, per that article). A trust
            # statement with Condition StringEquals sts:ExternalId admits only that ExternalId (IAM user
            # guide, "Access to AWS accounts owned by third parties"), with the same message.
            return self.error("AccessDenied", f"User: {caller.assumed_role_arn} is not authorized to perform: "
                              f"sts:AssumeRole on resource: {arn}", 403)
        # IAM user guide, "Passing session tags in AWS STS": "the role's trust policy must allow
        # sts:TagSession" for a call with Tags, and "Monitor and control actions taken with assumed
        # roles": sts:SetSourceIdentity for one with SourceIdentity; STS names the missing action.
        for needed, used in (("sts:TagSession", bool(tags)), ("sts:SetSourceIdentity", bool(source_identity))):
            if used and not self._trusts_role(role.trust_policy, caller.role_arn, needed, form.get("ExternalId")):
                return self.error("AccessDenied", f"User: {caller.assumed_role_arn} is not authorized to perform: "
                                  f"{needed} on resource: {arn}", 403)
        refused = self._tag_problem(tags, transitive, source_identity)
        if refused:
            return refused
        # "Role chaining limits your AWS CLI or AWS API role session to a maximum of one hour ... if
        # you assume a role using role chaining and provide a DurationSeconds parameter value greater
        # than one hour, the operation fails" (STS API reference, AssumeRole, DurationSeconds); the
        # message is the one AWS answers (AWS knowledge center, iam-role-chaining-limit).
        if duration > 3600:
            return self.error("ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit "
                              "for roles assumed by role chaining.")
        if duration > role.max_session_duration:
            return self.error("ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
        refused = self._policy_problem(form)
        if refused:
            return refused
        account = arn.split(":")[4]
        session = self._issue(account, arn, name, duration, form.get("Policy"), tuple(policy_arns(form)))
        session.tags, session.source_identity = tuple(tags), source_identity
        access_key = next(k for k, v in self.sessions.items() if v is session)
        body_xml = (f'<AssumeRoleResponse xmlns="{STS_NS}"><AssumeRoleResult>'
                    f"<AssumedRoleUser><Arn>{escape(session.assumed_role_arn)}</Arn>"
                    f"<AssumedRoleId>{session.assumed_role_id}</AssumedRoleId></AssumedRoleUser>"
                    f"<Credentials><AccessKeyId>{access_key}</AccessKeyId><SecretAccessKey>{session.secret_access_key}"
                    f"</SecretAccessKey><SessionToken>{session.session_token}</SessionToken>"
                    f"<Expiration>{session.expiration.strftime('%Y-%m-%dT%H:%M:%SZ')}</Expiration></Credentials>"
                    "</AssumeRoleResult>"
                    f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></AssumeRoleResponse>")
        return Reply(200, body_xml, {"Content-Type": "text/xml"})

    def _tag_problem(self, tags: list[tuple[str, str]], transitive: list[str], source_identity: str | None) -> Reply | None:
        """STS API reference, AssumeRole: at most 50 Tags, keys 1-128 and values 0-256 characters of
        [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+, keys unique ignoring case; SourceIdentity 2-64 of [\\w+=,.@-]*;
        and "aws:" keys are reserved (IAM user guide, tagging rules)."""
        import unicodedata

        def allowed(text: str) -> bool:
            return all(c in "_.:/=+-@" or unicodedata.category(c)[0] in "LZN" for c in text)

        if len(tags) > 50:
            return self.error("ValidationError", "1 validation error detected: Value at 'tags' failed to satisfy "
                              "constraint: Member must have length less than or equal to 50")
        keys = [k.lower() for k, _ in tags]
        if len(set(keys)) != len(keys):
            return self.error("InvalidParameterValue", "Duplicate tag keys found. Please note that Tag keys are case insensitive.")
        for key, value in tags:
            if not 1 <= len(key) <= 128 or not allowed(key) or len(value) > 256 or not allowed(value):
                return self.error("ValidationError", "1 validation error detected: Value at 'tags' failed to satisfy "
                                  "constraint: Member must satisfy regular expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+")
            if key.lower().startswith("aws:"):
                return self.error("InvalidParameterValue", "Tag keys beginning with aws: are reserved.")
        if source_identity is not None and not re.fullmatch(r"[\w+=,.@-]{2,64}", source_identity, re.ASCII):
            return self.error("ValidationError", "1 validation error detected: Value at 'sourceIdentity' failed to "
                              "satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*")
        return None

    @staticmethod
    def _trusts_role(policy: dict[str, Any], caller_role_arn: str, action: str = "sts:AssumeRole",
                     external_id: str | None = None) -> bool:
        """An Allow of `action` whose Principal.AWS names the calling role, or its account (the root
        ARN or the bare id), and whose Condition StringEquals sts:ExternalId, if any, is the one sent.
        IAM also needs the caller's own permission to assume the role; the stand-in grants it, as it
        models no identity policies."""
        account = caller_role_arn.split(":")[4] if caller_role_arn.count(":") >= 5 else ""
        accepted = {caller_role_arn, f"arn:aws:iam::{account}:root", account}
        for statement in policy.get("Statement", []):
            actions = statement.get("Action")
            actions = [actions] if isinstance(actions, str) else actions or []
            principals = statement.get("Principal", {}).get("AWS")
            principals = [principals] if isinstance(principals, str) else principals or []
            required = statement.get("Condition", {}).get("StringEquals", {}).get("sts:ExternalId")
            if required is not None and external_id != required:
                continue
            if statement.get("Effect") == "Allow" and action in actions and accepted & set(principals):
                return True
        return False

    def close(self) -> None:
        self._server.close()


# ---------------------------------------------------------------------------------------------
class Proxy:
    """A forwarding HTTP proxy on loopback, as a corporate one: CONNECT tunnels for https, absolute
    URIs for http, optional Basic authentication (407 without it). It records what passed."""

    def __init__(self, user: str | None = None, password: str | None = None) -> None:
        self.expected_auth = ("Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()) if user else None
        self.requests: list[tuple[str, str]] = []
        self.refused: list[str] = []
        self.blocked: list[str] = []
        outer = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                outer._handle(self)

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def _handle(self, h: socketserver.StreamRequestHandler) -> None:
        request_line = h.rfile.readline().decode("latin-1").strip()
        if not request_line:
            return
        method, target, _ = request_line.split(" ", 2)
        headers: list[tuple[str, str]] = []
        while True:
            line = h.rfile.readline().decode("latin-1")
            if line in ("\r\n", "\n", ""):
                break
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
        found = {k.lower(): v for k, v in headers}
        if self.expected_auth and found.get("proxy-authorization") != self.expected_auth:
            self.refused.append(target)
            h.wfile.write(b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"t\"\r\n"
                          b"Content-Length: 0\r\nConnection: close\r\n\r\n")
            return
        upstream_host = target.rsplit(":", 1)[0] if method == "CONNECT" else urlsplit(target).hostname or ""
        if not _is_loopback(upstream_host):
            # Never a real service: what would have left the machine is recorded and refused.
            self.blocked.append(target)
            h.wfile.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            return
        self.requests.append((method, target))
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            h.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            h.wfile.flush()
            self._pipe(h.connection, upstream)
            return
        parts = urlsplit(target)
        body = h.rfile.read(int(found.get("content-length") or 0))
        upstream = socket.create_connection((parts.hostname, parts.port or 80))
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        kept = [(k, v) for k, v in headers if k.lower() not in ("proxy-authorization", "proxy-connection", "connection")]
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in kept) + "Connection: close\r\n\r\n"
        upstream.sendall(head.encode("latin-1") + body)
        while True:
            chunk = upstream.recv(65536)
            if not chunk:
                break
            h.wfile.write(chunk)
        upstream.close()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        sockets = [a, b]
        try:
            while True:
                readable, _, _ = select.select(sockets, [], [], 30)
                if not readable:
                    return
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
        finally:
            b.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# ---------------------------------------------------------------------------------------------
class S3Front:
    """A reverse proxy on loopback in front of moto's S3 server that records who wrote what: each
    request's method, path and the access key id of its SigV4 signature (the `Credential=` of the
    Authorization header, AWS Signature Version 4 documentation, "Authorization header"). moto stores
    the objects but does not say which credentials wrote them; with the STS stand-in's sessions this
    says which role (and so which account) did."""

    def __init__(self, upstream: str) -> None:
        self.upstream = urlsplit(upstream)
        self.requests: list[dict[str, str]] = []
        self._server = _Server(self._handle)
        self.url = self._server.url

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        import http.client

        authorization = handler.headers.get("Authorization", "")
        match = re.search(r"Credential=([A-Z0-9]+)/", authorization)
        self.requests.append({"method": method, "path": handler.path, "access_key": match.group(1) if match else ""})
        body = read_body(handler) if handler.headers.get("Content-Length") else b""
        connection = http.client.HTTPConnection(self.upstream.hostname or "127.0.0.1", self.upstream.port, timeout=60)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("connection",)}
        connection.request(method, handler.path, body=body, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        handler.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        if method != "HEAD":
            handler.wfile.write(data)
        connection.close()

    def writers(self, key_suffix: str) -> list[str]:
        """Access key ids of the PUTs of objects whose path ends with `key_suffix`."""
        return [r["access_key"] for r in self.requests if r["method"] == "PUT" and r["path"].split("?")[0].endswith(key_suffix)]

    def close(self) -> None:
        self._server.close()
