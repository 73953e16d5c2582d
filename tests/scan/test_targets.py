"""The scanner against loopback targets: bare, hostile, redirecting and slow APIs."""

from __future__ import annotations

import time

from gatepass.scan import ScanReport, render_html, scan

from .conftest import (
    INJECTED,
    Serve,
    Trap,
    bare_api,
    hostile_api,
    huge_api,
    redirecting_api,
    slow_api,
)


def by_check(report: ScanReport) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for f in report.findings:
        found.setdefault(f.check, []).append(f"{f.severity}: {f.message}")
    return found


def scores(report: ScanReport) -> dict[str, float]:
    return {r.check.id: r.score for r in report.results}


async def test_bare_api_scores_low_with_the_expected_findings(serve: Serve) -> None:
    report = await scan(serve(bare_api()), request_timeout=3, budget=20)
    found = by_check(report)
    assert report.score <= 10
    assert found["discovery"] == [
        f"error: No authorization server metadata ({report.target}/.well-known/oauth-"
        f"authorization-server: HTTP 404; {report.target}/.well-known/openid-configuration: "
        "HTTP 404)"]
    for check in ("jwks", "client_credentials", "registration"):
        assert found[check] == ["error: Cannot tell: no authorization server metadata"] or \
            found[check][0].startswith("error: Cannot check keys")
    assert found["llms_txt"] == ["error: No llms.txt (HTTP 404)"]
    assert found["error_401"][0].startswith("error: No endpoint refused an unauthenticated")
    assert found["robots_txt"] == ["warning: No usable robots.txt (HTTP 404)"]
    assert found["openapi"] == ["error: No OpenAPI document found"]
    assert "error: No response carried rate-limit headers" in found["rate_limits"]
    assert all(f.fix for f in report.problems())


async def test_a_plain_text_401_is_judged(serve: Serve) -> None:
    report = await scan(serve(bare_api()) + "/private", request_timeout=3, budget=20)
    found = by_check(report)["error_401"]
    assert "error: The refusal has no WWW-Authenticate: Bearer challenge" in found
    assert "warning: The refusal body is not JSON with error and error_description" in found
    assert "warning: Neither the body nor the challenge says where to get a token" in found
    assert scores(report)["error_401"] == 3.0


async def test_malformed_documents_are_findings_not_crashes(serve: Serve) -> None:
    report = await scan(serve(hostile_api()), request_timeout=3, budget=20)
    found = by_check(report)
    assert not any("Could not evaluate" in f.message for f in report.findings)
    assert any("is malformed: not valid JSON" in m for m in found["discovery"])
    assert any("is not" in m and "RFC 8414 §3.3" in m for m in found["discovery"])
    assert any("no absolute token_endpoint" in m for m in found["discovery"])
    assert any("JSON list, not an object" in m for m in found["protected_resource"])
    assert any("declares no OpenAPI version" in m for m in found["openapi"])
    assert any("llms.txt is an HTML page" in m for m in found["llms_txt"])
    assert report.score < 30
    # nothing the target sent can steer a terminal or an HTML page
    for f in report.findings:
        assert not any(c in f.message for c in ("\x1b", "\x00", "\u202e"))
    page = render_html(report)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert INJECTED not in page


async def test_redirects_to_other_hosts_are_not_followed(serve: Serve) -> None:
    trap = Trap()
    report = await scan(serve(redirecting_api(serve(trap))), request_timeout=3, budget=20)
    found = by_check(report)
    assert trap.hits == []
    assert "redirect to another host not followed" in found["discovery"][0]
    assert scores(report)["llms_txt"] == 10  # a same-origin redirect is followed
    assert any("more than 3 redirects" in m for m in found["robots_txt"])


async def test_slow_target_hits_timeouts_and_the_budget_holds(serve: Serve) -> None:
    base = serve(slow_api())
    started = time.monotonic()
    report = await scan(base, request_timeout=0.5, budget=1.5)
    elapsed = time.monotonic() - started
    assert elapsed < 1.5 + 1.0
    assert report.budget_exhausted
    messages = " ".join(f.message for f in report.findings)
    assert "no complete answer within 0.5s" in messages  # the dripping llms.txt too
    assert by_check(report)["llms_txt"][0].startswith("error: No llms.txt (no complete answer")
    assert report.score <= 10


async def test_progress_is_reported_per_check(serve: Serve) -> None:
    seen: list[tuple[str, int, int]] = []
    await scan(serve(bare_api()), progress=lambda c, d, t: seen.append((c, d, t)))
    assert [d for _, d, _ in seen] == list(range(1, 12))
    assert seen[-1] == ("rate_limits", 11, 11)


async def test_bodies_are_capped_even_when_compressed(serve: Serve) -> None:
    report = await scan(serve(huge_api()), request_timeout=5, budget=20)
    found = by_check(report)
    assert found["llms_txt"] == ["error: No llms.txt (body larger than 512 KiB)"]
    assert all("body larger than 512 KiB" in m for m in found["discovery"])
