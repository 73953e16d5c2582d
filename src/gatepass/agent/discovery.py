"""Finding the authorization server: RFC 8414 metadata, or RFC 9728 from a resource's 401.

``discover_flow(url)`` tries ``url`` as an issuer (``/.well-known/oauth-authorization-server``
with RFC 8414 §3.1 path insertion, then ``openid-configuration``) and checks that ``issuer`` is
byte-equal to it (§3.3). Otherwise it treats ``url`` as a protected resource: a 401's
``resource_metadata`` (RFC 9728 §5.1) or the resource's well-known document names the
authorization server, whose metadata is then fetched the same way. Endpoints must be https,
except on loopback hosts or with ``insecure=True``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from gatepass.agent._flow import Flow, bearer_challenge, json_object, parse_challenges
from gatepass.agent.errors import DiscoveryError

__all__ = ["ResourceMetadata", "ServerMetadata", "check_url", "discover_flow", "is_loopback",
           "metadata_flow",
           "origin", "parse_challenges", "resource_flow", "well_known_url"]

_ACCEPT = {"Accept": "application/json"}


@dataclass(frozen=True, slots=True)
class ServerMetadata:
    """The parts of an RFC 8414 document (plus the agent extensions) the client uses."""

    issuer: str
    token_endpoint: str
    registration_endpoint: str | None = None
    agent_registration_url: str | None = None
    agent_documentation: str | None = None
    agent_tos_url: str | None = None
    scopes_supported: tuple[str, ...] = ()
    auth_methods: tuple[str, ...] = ("client_secret_basic",)
    rate_limit_tiers: Mapping[str, Any] = field(default_factory=dict)
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class ResourceMetadata:
    """An RFC 9728 §2 document: the resource, its authorization servers, its scopes."""

    resource: str
    authorization_servers: tuple[str, ...]
    scopes_supported: tuple[str, ...] = ()
    required_scopes: tuple[str, ...] = ()


def origin(url: str) -> str:
    """``scheme://host[:port]`` in lower case, without credentials or a default port."""
    parts = urlsplit(url)
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if ":" in host:
        host = f"[{host}]"
    default = {"https": 443, "http": 80}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback IP address (brackets of an IPv6 literal allowed)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, *, insecure: bool = False, what: str = "URL") -> str:
    """``url`` if it is absolute https (or http on loopback / when ``insecure``)."""
    parts = urlsplit(url)
    plain_ok = insecure or is_loopback((parts.hostname or "").lower())
    secure = parts.scheme == "https" or (parts.scheme == "http" and plain_ok)
    if secure and parts.hostname and not parts.fragment:
        return url
    raise DiscoveryError(f"{what} must be an absolute https URL, got {url!r}",
                         error="insecure_url")


def well_known_url(url: str, name: str) -> str:
    """RFC 8414 §3.1 / RFC 9728 §3.1: ``/.well-known/<name>`` inserted before the path."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc,
                       f"/.well-known/{name}{parts.path.rstrip('/')}", "", ""))


def _strings(value: Any) -> tuple[str, ...]:
    return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else ()


def _parse_server(doc: dict[str, Any], issuer: str, insecure: bool) -> ServerMetadata:
    if doc.get("issuer") != issuer:
        raise DiscoveryError(f"Metadata issuer {doc.get('issuer')!r} is not {issuer!r} "
                             "(RFC 8414 §3.3)", error="issuer_mismatch")
    token = doc.get("token_endpoint")
    if not isinstance(token, str):
        raise DiscoveryError("Metadata has no token_endpoint", error="invalid_metadata")
    urls = {k: doc.get(k) for k in ("registration_endpoint", "agent_registration_url",
                                    "agent_documentation", "agent_tos_url")}
    for name, value in (("token_endpoint", token), *urls.items()):
        if value is not None and (not isinstance(value, str) or
                                  not check_url(value, insecure=insecure, what=name)):
            raise DiscoveryError(f"{name} must be a URL", error="invalid_metadata")
    tiers = doc.get("rate_limit_tiers")
    return ServerMetadata(
        issuer=issuer, token_endpoint=token, scopes_supported=_strings(doc.get("scopes_supported")),
        auth_methods=_strings(doc.get("token_endpoint_auth_methods_supported"))
        or ("client_secret_basic",),
        rate_limit_tiers=tiers if isinstance(tiers, dict) else {}, raw=doc,
        **{k: v for k, v in urls.items() if isinstance(v, str)},
    )


def metadata_flow(issuer: str, *, insecure: bool = False) -> Flow[ServerMetadata]:
    """Fetch and validate the authorization server's metadata (both well-known names)."""
    issuer = check_url(issuer.rstrip("/"), insecure=insecure, what="issuer")
    candidates = [well_known_url(issuer, "oauth-authorization-server"),
                  well_known_url(issuer, "openid-configuration"),
                  issuer + "/.well-known/openid-configuration"]
    for url in dict.fromkeys(candidates):
        response = yield httpx.Request("GET", url, headers=_ACCEPT)
        doc = json_object(response) if response.status_code == 200 else None
        if doc is not None:
            return _parse_server(doc, issuer, insecure)
    raise DiscoveryError(f"No authorization server metadata at {issuer}", error="not_found")


def _parse_resource(doc: dict[str, Any], url: str, scopes: tuple[str, ...],
                    insecure: bool) -> ResourceMetadata:
    resource, servers = doc.get("resource"), _strings(doc.get("authorization_servers"))
    if not isinstance(resource, str) or origin(resource) != origin(url):
        raise DiscoveryError(f"Protected resource metadata names {resource!r}, not a resource "
                             f"at {origin(url)} (RFC 9728 §3.3)", error="resource_mismatch")
    if not servers:
        raise DiscoveryError("Protected resource metadata lists no authorization_servers",
                             error="invalid_metadata")
    for server in servers:
        check_url(server, insecure=insecure, what="authorization server")
    return ResourceMetadata(resource, servers, _strings(doc.get("scopes_supported")), scopes)


def resource_flow(url: str, *, insecure: bool = False, challenge: dict[str, str] | None = None
                  ) -> Flow[ResourceMetadata]:
    """RFC 9728: from the resource's 401 challenge (fetched unless given), else its
    well-known document."""
    check_url(url, insecure=insecure, what="resource")
    if challenge is None:
        response = yield httpx.Request("GET", url, headers=_ACCEPT)
        challenge = bearer_challenge(response) if response.status_code == 401 else {}
    scopes = tuple(challenge.get("scope", "").split())
    candidates = [well_known_url(url, "oauth-protected-resource"),
                  origin(url) + "/.well-known/oauth-protected-resource"]
    if "resource_metadata" in challenge:
        candidates.insert(0, check_url(challenge["resource_metadata"], insecure=insecure,
                                       what="resource_metadata"))
    for candidate in dict.fromkeys(candidates):
        found = yield httpx.Request("GET", candidate, headers=_ACCEPT)
        doc = json_object(found) if found.status_code == 200 else None
        if doc is not None:
            return _parse_resource(doc, url, scopes, insecure)
    raise DiscoveryError(f"{url} publishes no protected resource metadata", error="not_found")


def discover_flow(url: str, *, insecure: bool = False
                  ) -> Flow[tuple[ServerMetadata, ResourceMetadata | None]]:
    """``url`` as an issuer, else as a protected resource pointing at its issuer."""
    try:
        return (yield from metadata_flow(url, insecure=insecure)), None
    except DiscoveryError as exc:
        if exc.error != "not_found":
            raise
    resource = yield from resource_flow(url, insecure=insecure)
    server = yield from metadata_flow(resource.authorization_servers[0], insecure=insecure)
    return server, resource
