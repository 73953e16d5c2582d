"""The OAuth form reader (RFC 6749 §3.2, Appendix B): POST only, urlencoded, capped, no repeats.

Hypothesis drives ``read_oauth_request`` with arbitrary methods, headers and bodies: it returns an
``OAuthRequest`` or raises an ``OAuthError``, never anything else.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from gatepass.core.requests import OAuthRequest
from gatepass.errors import OAuthError
from gatepass.http.forms import read_oauth_request

FORM_CT = b"application/x-www-form-urlencoded"
LIMIT = 1024


def make_request(method: str, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> Request:
    pending = list(chunks)

    async def receive() -> dict[str, Any]:
        if pending:
            body = pending.pop(0)
            return {"type": "http.request", "body": body, "more_body": bool(pending)}
        return {"type": "http.request", "body": b"", "more_body": False}

    scope = {"type": "http", "method": method, "path": "/oauth/token", "raw_path": b"/oauth/token",
             "root_path": "", "query_string": b"", "headers": headers, "scheme": "https",
             "http_version": "1.1", "client": ("192.0.2.1", 5000), "server": ("as", 443)}
    return Request(scope, receive)


async def read(body: bytes, *, method: str = "POST", ctype: bytes | None = FORM_CT,
               extra: list[tuple[bytes, bytes]] | None = None,
               length: bool = True) -> OAuthRequest:
    headers = [] if ctype is None else [(b"content-type", ctype)]
    if length:
        headers.append((b"content-length", str(len(body)).encode()))
    headers += extra or []
    return await read_oauth_request(make_request(method, headers, [body]), LIMIT)


async def refused(body: bytes, **kw: Any) -> OAuthError:
    with pytest.raises(OAuthError) as info:
        await read(body, **kw)
    return info.value


async def test_rfc6749_appendix_b_form_is_decoded() -> None:
    req = await read(b"grant_type=client_credentials&scope=read%3Aprojects+write%3Aprojects"
                     b"&client_id=a%20b", extra=[(b"authorization", b"Basic xyz")])
    assert req.form == {"grant_type": "client_credentials",
                        "scope": "read:projects write:projects", "client_id": "a b"}
    assert req.authorization == "Basic xyz"
    assert req.remote_addr == "192.0.2.1"
    assert req.resources == ()


async def test_rfc8707_s2_resource_may_repeat_and_keeps_order() -> None:
    req = await read(b"resource=https%3A%2F%2Fb&grant_type=x&resource=https%3A%2F%2Fa")
    assert req.resources == ("https://b", "https://a")
    assert "resource" not in req.form


async def test_rfc6749_s3_2_repeated_parameter_is_refused_even_when_blank() -> None:
    exc = await refused(b"grant_type=&grant_type=client_credentials")
    assert exc.error == "invalid_request" and exc.http_status == 400
    assert exc.description == "Parameter 'grant_type' is repeated (RFC 6749 §3.2)"


async def test_rfc6749_s3_2_blank_values_count_as_absent() -> None:
    req = await read(b"grant_type=&scope=")
    assert req.form == {"grant_type": "", "scope": ""}
    assert req.get("grant_type") is None and req.get("scope") is None


async def test_rfc6749_s3_2_only_post() -> None:
    exc = await refused(b"", method="GET")
    assert (exc.http_status, exc.headers) == (405, {"Allow": "POST"})


@pytest.mark.parametrize("ctype", [b"application/json", b"text/plain", b"multipart/form-data",
                                   b"application/x-www-form-urlencodedX", b""])
async def test_rfc6749_s3_2_only_form_encoding(ctype: bytes) -> None:
    exc = await refused(b"grant_type=x", ctype=ctype)
    assert exc.error == "invalid_request" and exc.http_status == 400


async def test_rfc6749_s3_2_content_type_is_case_insensitive_with_parameters() -> None:
    req = await read(b"a=1", ctype=b"Application/X-WWW-Form-Urlencoded ; charset=utf-8")
    assert req.form == {"a": "1"}


@pytest.mark.parametrize("declared", [b"1025", b"-1", b"abc", b"99999999999999999999",
                                      b"\xb2", b"1\xb9"])  # superscripts: str.isdigit() is True
async def test_body_cap_declared_length(declared: bytes) -> None:
    exc = await refused(b"a=1", length=False, extra=[(b"content-length", declared)])
    assert exc.http_status == 413 and exc.error == "invalid_request"


async def test_body_cap_counts_streamed_bytes_despite_a_small_declared_length() -> None:
    req = make_request("POST", [(b"content-type", FORM_CT), (b"content-length", b"3")],
                       [b"a=" + b"x" * 600, b"y" * 600])
    with pytest.raises(OAuthError) as info:
        await read_oauth_request(req, LIMIT)
    assert info.value.http_status == 413


async def test_body_cap_exactly_at_the_limit_is_accepted() -> None:
    body = b"a=" + b"x" * (LIMIT - 2)
    assert (await read(body)).form["a"] == "x" * (LIMIT - 2)


names = st.sampled_from(["grant_type", "scope", "resource", "client_id", "client_secret",
                         "token", "x"]) | st.text(max_size=8)
pairs = st.lists(st.tuples(names, st.text(max_size=30)), max_size=8)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    method=st.sampled_from(["POST", "POST", "POST", "GET", "PUT", "HEAD"]),
    ctype=st.sampled_from([FORM_CT, FORM_CT + b"; charset=latin-1", b"application/json", None])
    | st.binary(max_size=40),
    body=st.binary(max_size=1400) | pairs.map(lambda p: urlencode(p).encode()),
    length=st.sampled_from(["right", "none", "wrong"]) | st.binary(max_size=8).map(lambda b: b),
    split=st.integers(min_value=0, max_value=1400),
)
async def test_rfc6749_appendix_b_form_reader_raises_only_oauth_errors(
    method: str, ctype: bytes | None, body: bytes, length: Any, split: int
) -> None:
    headers = [] if ctype is None else [(b"content-type", ctype)]
    if length == "right":
        headers.append((b"content-length", str(len(body)).encode()))
    elif length == "wrong":
        headers.append((b"content-length", b"7"))
    elif isinstance(length, bytes):
        headers.append((b"content-length", length))
    request = make_request(method, headers, [body[:split], body[split:]])
    try:
        result = await read_oauth_request(request, LIMIT)
    except OAuthError as exc:
        assert exc.http_status in (400, 405, 413)
        assert set(exc.body()) == {"error", "error_description"}
        return
    assert method == "POST" and len(body) <= LIMIT
    assert isinstance(result, OAuthRequest)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.form.items())
    assert "resource" not in result.form


@settings(max_examples=60, deadline=None)
@given(pairs)
async def test_rfc6749_s3_2_no_parameter_other_than_resource_is_taken_twice(
    fields: list[tuple[str, str]],
) -> None:
    body = urlencode(fields).encode()
    if len(body) > LIMIT:
        return
    names_ = [n for n, _ in fields if n != "resource"]
    try:
        req = await read(body)
    except OAuthError as exc:
        assert len(names_) != len(set(names_)) or "Malformed" in exc.description
        return
    assert len(names_) == len(set(names_))
    assert req.resources == tuple(v for n, v in fields if n == "resource")
    assert dict(req.form) == {n: v for n, v in fields if n != "resource"}
