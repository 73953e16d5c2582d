"""The floor for the token endpoint: a bare ASGI app that does only the unavoidable work.

It reads the form body, parses it, signs one RFC 9068-shaped JWT with an ES256 key made by
``gatepass.keys.generate_key`` (joserfc, same header shape: ``typ``, ``alg``, ``kid``) and answers
the RFC 6749 §5.1 JSON body. No client authentication, no storage, no audit, no framework.

Run by ``bench/token_endpoint.py`` as ``uvicorn floor_app:app --factory --app-dir bench``.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

import orjson
from joserfc import jwt

from gatepass.keys import generate_key

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TTL = 3600
HEADERS = [(b"content-type", b"application/json"), (b"cache-control", b"no-store"),
           (b"pragma", b"no-cache")]


def app() -> ASGIApp:
    """The floor app (uvicorn factory); ``FLOOR_ISSUER`` and ``FLOOR_CLIENT_ID`` shape claims."""
    issuer = os.environ.get("FLOOR_ISSUER", "http://127.0.0.1:8000")
    client_id = os.environ.get("FLOOR_CLIENT_ID", "client_" + "0" * 24)
    key = generate_key("ES256")
    header = {"typ": "at+jwt", "alg": "ES256", "kid": str(key.kid)}
    algorithms = ["ES256"]

    async def lifespan(receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        now = int(time.time())
        scope_value = form.get("scope", "")
        claims = {"iss": issuer, "sub": client_id, "aud": issuer, "exp": now + TTL, "iat": now,
                  "jti": secrets.token_urlsafe(16), "client_id": client_id, "scope": scope_value}
        token = jwt.encode(header, claims, key, algorithms=algorithms)
        payload = orjson.dumps({"access_token": token, "token_type": "Bearer",
                                "expires_in": TTL, "scope": scope_value})
        await send({"type": "http.response.start", "status": 200,
                    "headers": [*HEADERS, (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

    return asgi
