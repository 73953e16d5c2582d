"""RFC 6749 §3.3 scope grammar, plus the ``action:resource`` / ``agent:`` conventions."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatepass.errors import InvalidScope, OAuthError
from gatepass.scopes import (
    MAX_SCOPE_TOKENS,
    expand_implied,
    format_scope,
    is_agent_scope,
    parse_scope,
    split_scope,
)

SCOPE_CHARS = st.characters(codec="ascii", min_codepoint=0x21, max_codepoint=0x7E,
                            exclude_characters='"\\')


@pytest.mark.parametrize(("value", "expected"), [
    (None, ()),
    ("", ()),
    ("   ", ()),
    ("read:projects", ("read:projects",)),
    ("read:projects write:projects", ("read:projects", "write:projects")),
    ("  read:projects   write:projects ", ("read:projects", "write:projects")),
    ("b a b a", ("b", "a")),
    (["read:projects", "", "read:projects"], ("read:projects",)),
    ("!#[]~", ("!#[]~",)),
])
def test_rfc6749_s3_3_scope_is_space_delimited_unique_tokens(value, expected) -> None:  # type: ignore[no-untyped-def]
    assert parse_scope(value) == expected


@pytest.mark.parametrize("bad", ['"quoted"', "back\\slash", "tab\there", "new\nline", "ü",
                                 "nul\x00", "del\x7f"])
def test_rfc6749_s3_3_characters_outside_the_grammar_are_invalid_scope(bad: str) -> None:
    with pytest.raises(InvalidScope) as info:
        parse_scope(bad)
    assert info.value.error == "invalid_scope" and info.value.http_status == 400


def test_rfc6749_s3_3_list_items_are_checked_too() -> None:
    with pytest.raises(InvalidScope):
        parse_scope(["read:projects", "has space"])
    with pytest.raises(InvalidScope):
        parse_scope(["read:projects", 7])  # type: ignore[list-item]


def test_rfc6749_s3_3_too_many_scope_tokens_is_invalid_scope() -> None:
    ok = " ".join(f"s{i}" for i in range(MAX_SCOPE_TOKENS))
    assert len(parse_scope(ok)) == MAX_SCOPE_TOKENS
    with pytest.raises(InvalidScope, match="Too many scopes"):
        parse_scope(ok + " extra")


@given(st.text())
def test_rfc6749_s3_3_parse_scope_never_raises_anything_but_oauth_error(text: str) -> None:
    try:
        tokens = parse_scope(text)
    except OAuthError as exc:
        assert exc.error == "invalid_scope"
        return
    assert len(tokens) == len(set(tokens)) <= MAX_SCOPE_TOKENS
    for tok in tokens:
        assert tok and all(0x21 <= ord(c) <= 0x7E and c not in '"\\' for c in tok)


@given(st.lists(st.text(SCOPE_CHARS, min_size=1, max_size=20), max_size=MAX_SCOPE_TOKENS))
def test_rfc6749_s3_3_format_then_parse_round_trips(tokens: list[str]) -> None:
    parsed = parse_scope(tokens)
    assert parsed == tuple(dict.fromkeys(tokens))
    assert parse_scope(format_scope(parsed)) == parsed


@settings(max_examples=60)
@given(st.lists(st.text(max_size=10), max_size=70))
def test_rfc6749_s3_3_list_input_never_raises_anything_but_oauth_error(items: list[str]) -> None:
    with contextlib.suppress(OAuthError):
        parse_scope(items)


def test_scopes_split_action_resource() -> None:
    assert split_scope("read:projects") == ("read", "projects")
    assert split_scope("agent:batch:ops") == ("agent", "batch:ops")
    assert split_scope("openid") == ("openid", None)


def test_scopes_agent_scopes_are_recognised() -> None:
    assert is_agent_scope("agent:batch-operations")
    assert not is_agent_scope("read:agent")


def test_scopes_implications_are_closed_and_cycles_terminate() -> None:
    rules = {"write:projects": ["read:projects"], "admin": ["write:projects"], "a": ["b"],
             "b": ["a"]}
    assert expand_implied(["admin"], rules) == {"admin", "write:projects", "read:projects"}
    assert expand_implied(["a"], rules) == {"a", "b"}
    assert expand_implied([], rules) == frozenset()
