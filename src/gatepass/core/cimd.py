"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document §3, §4, §6).

A client with no registration uses an https URL as its ``client_id``. The server fetches the JSON
document at that URL (through the HTTP shell's fetcher: SSRF guard, no redirects, timeout, size
cap, HTTP caching), requires its ``client_id`` to equal the URL, and treats the client as public
(``token_endpoint_auth_method`` ``none``, RFC 7591 §2): PKCE and refresh-token rotation protect
its grants. ``ClientResolver`` finds a client of either kind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from gatepass.clock import Clock
from gatepass.core.config import ServerConfig
from gatepass.core.directory import ClientDirectory, ClientEntry
from gatepass.core.redirects import redirect_uri_problem
from gatepass.errors import InvalidClient, OAuthError
from gatepass.models import Client
from gatepass.scopes import parse_scope

__all__ = ["CimdFetcher", "ClientResolver", "client_from_document", "is_url_client_id"]

CimdFetcher = Callable[[str], Awaitable[Mapping[str, Any]]]
"""Fetches a client metadata document; raises ``ValueError`` (with a reason) on any failure."""

MAX_URL = 2048
MAX_NAME = 200
PUBLIC_GRANTS = ("authorization_code", "refresh_token")
CIMD_MARK = "client_id_metadata_document"


def is_url_client_id(client_id: str) -> bool:
    """A ``client_id`` that names a metadata document (registered ids are never URLs)."""
    return client_id.startswith(("https://", "http://"))


def check_client_id_url(url: str, *, development: bool) -> None:
    """§3: https, a host, a path that is not ``/`` without dot segments, no fragment or
    credentials (http only in development)."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InvalidClient("A URL client_id must be a valid URL") from exc
    if len(url) > MAX_URL:
        raise InvalidClient(f"A URL client_id is limited to {MAX_URL} characters")
    if parts.scheme != "https" and not (development and parts.scheme == "http"):
        raise InvalidClient("A URL client_id must use https")
    segments = parts.path.split("/")
    if (not parts.hostname or parts.username is not None or parts.password is not None
            or parts.fragment or parts.path in ("", "/") or "." in segments or ".." in segments):
        raise InvalidClient("A URL client_id needs a host and a path, without dot segments, "
                            "fragment or credentials")


def _strings(doc: Mapping[str, Any], name: str, default: list[str]) -> list[str]:
    value = doc.get(name, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidClient(f"The client metadata document's {name} must be a list of strings")
    return value


def _redirect_uris(doc: Mapping[str, Any], development: bool) -> list[str]:
    """The same rules as for registered clients (``core.redirects``)."""
    uris = _strings(doc, "redirect_uris", [])
    for uri in uris:
        problem = redirect_uri_problem(uri, development=development)
        if problem is not None:
            raise InvalidClient(f"In the client metadata document: {problem}")
    if not uris:
        raise InvalidClient("The client metadata document lists no redirect_uris")
    return uris


def _grant_types(doc: Mapping[str, Any]) -> tuple[str, ...]:
    grants = _strings(doc, "grant_types", ["authorization_code"])
    refused = [g for g in grants if g not in PUBLIC_GRANTS]
    if refused or "authorization_code" not in grants:
        raise InvalidClient("A metadata-document client may use grant_types authorization_code "
                            f"and refresh_token only (got {grants})")
    if _strings(doc, "response_types", ["code"]) != ["code"]:
        raise InvalidClient('The client metadata document\'s response_types must be ["code"]')
    return tuple(g for g in PUBLIC_GRANTS if g in grants)


def _check_public(doc: Mapping[str, Any]) -> None:
    """§4.1: no shared secrets in a public document; only ``none`` is supported here."""
    if "client_secret" in doc or "client_secret_expires_at" in doc:
        raise InvalidClient("A client metadata document must not contain a client_secret")
    method = doc.get("token_endpoint_auth_method", "none")
    if method != "none":
        raise InvalidClient("Metadata-document clients must use token_endpoint_auth_method "
                            f"none here (got {method!r})")


def client_from_document(
    url: str, doc: Mapping[str, Any], config: ServerConfig, now: float
) -> Client:
    """The public client a fetched document describes, or ``InvalidClient`` saying why not."""
    if doc.get("client_id") != url:
        raise InvalidClient("The client metadata document's client_id does not equal its URL "
                            f"({url})")
    _check_public(doc)
    name = doc.get("client_name")
    if name is not None and (not isinstance(name, str) or len(name) > MAX_NAME):
        raise InvalidClient(f"client_name must be a string of at most {MAX_NAME} characters")
    scope = doc.get("scope")
    try:
        declared = parse_scope(scope) if isinstance(scope, str) else ()
    except OAuthError as exc:
        raise InvalidClient(f"The client metadata document's scope is malformed: "
                            f"{exc.description}") from exc
    known = [s for s in declared if (d := config.scope(s)) is not None and not d.internal]
    catalog = tuple(s.name for s in config.scopes if not s.internal)
    return Client(
        client_id=url, name=name or urlsplit(url).hostname or url, created_at=now,
        allowed_scopes=tuple(known) or catalog, default_scopes=tuple(known),
        grant_types=_grant_types(doc), token_endpoint_auth_method="none",
        metadata={"redirect_uris": _redirect_uris(doc, config.agents.development),
                  CIMD_MARK: True},
    )


class ClientResolver:
    """Registered clients from the directory; URL client ids from their metadata documents
    once ``enable_cimd`` gave a fetcher (off by default)."""

    def __init__(self, directory: ClientDirectory, config: ServerConfig, clock: Clock) -> None:
        self._directory = directory
        self._config = config
        self._clock = clock
        self._fetch: CimdFetcher | None = None

    @property
    def cimd_enabled(self) -> bool:
        return self._fetch is not None

    def enable_cimd(self, fetch: CimdFetcher) -> None:
        self._fetch = fetch

    async def lookup(self, client_id: str) -> ClientEntry | None:
        """The client, None if unknown; ``InvalidClient`` when a metadata document is refused."""
        if not is_url_client_id(client_id):
            return await self._directory.lookup(client_id)
        if self._fetch is None:
            return None
        check_client_id_url(client_id, development=self._config.agents.development)
        try:
            doc = await self._fetch(client_id)
        except ValueError as exc:
            raise InvalidClient(f"Could not use the client metadata document at {client_id}: "
                                f"{exc}") from exc
        return ClientEntry(client_from_document(client_id, doc, self._config,
                                                self._clock.now()), ())
