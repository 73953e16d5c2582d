"""Authorization header parsing (RFC 6750 §2.1, RFC 9110 §11.1, §11.6.2) with Hypothesis."""

from __future__ import annotations

import contextlib
import string

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gatepass.errors import InvalidRequest, InvalidToken, MissingToken, OAuthError
from gatepass.rs import extract_bearer, parse_authorization
from gatepass.rs._jws import check_header, parse_compact

CAP = 8192
B64TOKEN_CHARS = string.ascii_letters + string.digits + "-._~+/"
b64tokens = st.builds(
    lambda body, pad: body + "=" * pad,
    st.text(B64TOKEN_CHARS, min_size=1, max_size=200),
    st.integers(0, 2),
)


def parse(value: str) -> str:
    return parse_authorization(value, max_token_bytes=CAP, token_endpoint="https://as/token")


@pytest.mark.parametrize(
    ("value", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),
        ("BEARER abc", "abc"),
        ("Bearer   abc  ", "abc"),
        (" \tBearer a.b-c_d~e+f/g==", "a.b-c_d~e+f/g=="),
    ],
)
def test_rfc6750_2_1_accepted_forms(value: str, token: str) -> None:
    assert parse(value) == token


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("", MissingToken),
        ("   ", MissingToken),
        ("Basic abc", MissingToken),
        ("Bearer", MissingToken),
        ("Bearerabc", MissingToken),
        ("Bearer\tabc", MissingToken),
        ("Bearer ", MissingToken),
        ("Bearer  ", MissingToken),
        ("Bearer a b", InvalidRequest),
        ("Bearer a=b", InvalidRequest),
        ("Bearer =", InvalidRequest),
        ("Bearer ä", InvalidRequest),
        ("Bearer " + "a" * (CAP + 1), InvalidToken),
        ("Bearer " + "a" * (CAP + 100), InvalidToken),
    ],
)
def test_rfc6750_2_1_refused_forms(value: str, error: type[OAuthError]) -> None:
    with pytest.raises(error):
        parse(value)


def test_missing_token_body_names_the_header_and_token_endpoint() -> None:
    with pytest.raises(MissingToken) as info:
        extract_bearer([], max_token_bytes=CAP, token_endpoint="https://as/token")
    assert info.value.body() == {
        "error": "missing_token",
        "error_description": "Authorization: Bearer <token> header required",
        "expected_header": "Authorization: Bearer <token>",
        "token_endpoint": "https://as/token",
    }
    with pytest.raises(MissingToken) as info:
        extract_bearer([], max_token_bytes=CAP)
    assert "token_endpoint" not in info.value.body()


def test_several_headers_are_invalid_request() -> None:
    with pytest.raises(InvalidRequest):
        extract_bearer(["Bearer a", "Bearer a"], max_token_bytes=CAP)


@given(st.text(max_size=300))
@example("Bearer \x00")
@example("Bearer \u2028")
def test_parser_only_raises_our_errors(value: str) -> None:
    try:
        token = parse(value)
    except OAuthError:
        return
    assert token and len(token) <= CAP
    assert all(c in B64TOKEN_CHARS + "=" for c in token)


@given(st.sampled_from(["Bearer", "bearer", "BEARER", "bEaReR"]), st.integers(1, 3), b64tokens)
def test_any_b64token_round_trips(scheme: str, spaces: int, token: str) -> None:
    assert parse(f"{scheme}{' ' * spaces}{token}") == token


@given(st.binary(max_size=300))
def test_latin1_header_bytes_only_raise_our_errors(raw: bytes) -> None:
    with contextlib.suppress(OAuthError):
        parse("Bearer " + raw.decode("latin-1"))


@given(st.text(max_size=200))
def test_compact_parser_only_raises_invalid_token(token: str) -> None:
    with contextlib.suppress(InvalidToken):
        parse_compact(token)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=10,
)


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "alg": st.sampled_from(["ES256", "none", "HS256"]) | json_values,
            "typ": st.sampled_from(["at+jwt", "JWT"]) | json_values,
            "kid": json_values,
            "crit": json_values,
            "jku": json_values,
        },
    )
)
def test_header_checks_only_raise_invalid_token(header: dict[str, object]) -> None:
    try:
        alg, kid = check_header(header, ("ES256",))
    except InvalidToken:
        return
    assert alg == "ES256" and isinstance(kid, str)
    assert "jku" not in header and "crit" not in header
