"""Registration abuse gate: N registrations per client address per hour (moving window).

The client address is the socket peer; ``X-Forwarded-For`` counts only when the peer is a
configured trusted proxy. Both registration endpoints share one budget; other paths have none.
"""

from __future__ import annotations

from pathlib import Path

from .conftest import REGISTER, agent_settings, bearer, running

FLOODER, OTHER = "198.51.100.66", "192.0.2.10"


async def test_flood_from_one_ip_refused_while_another_ip_succeeds(tmp_path: Path) -> None:
    settings = agent_settings(tmp_path, agents={"registrations_per_ip_per_hour": 5,
                                                "free_tier": "agent_free"})
    async with running(settings) as h:
        for i in range(5):
            ok = await h.register(ip=FLOODER, agent_name=f"bot-{i}")
            assert ok.status_code == 201
            assert ok.headers["ratelimit-policy"] == '"minute";q=5;w=3600'
        refused = await h.register(ip=FLOODER, agent_name="bot-5")
        assert refused.status_code == 429
        body = refused.json()
        assert body["error"] == "rate_limit_exceeded"
        assert 3500 < body["retry_after"] <= 3600
        assert refused.headers["retry-after"] == str(body["retry_after"])
        assert refused.headers["cache-control"] == "no-store"
        dcr = await h.client(FLOODER).post("/oauth/register", json={"client_name": "x"})
        assert dcr.status_code == 429  # one budget for both registration endpoints
        assert len(await h.clients()) == 5

        assert (await h.register(ip=OTHER, agent_name="legit")).status_code == 201
        me = await h.client(FLOODER).get("/api/v1/agents/me", headers=bearer("gpr_x"))
        assert me.status_code == 401  # not rate limited: only registration POSTs are
        assert "ratelimit" not in me.headers

        refusals = [e for e in await h.events() if e["event"] == "rate_limit.refused"]
        assert [(e["path"], e["address"], e["reason"]) for e in refusals] == [
            ("/oauth/register", FLOODER, "rate_limit_exceeded"),
            (REGISTER, FLOODER, "rate_limit_exceeded")]  # newest first; none for the 201s
        assert all(e["endpoint"] == "register" and e["method"] == "POST"
                   and 3500 < e["retry_after"] <= 3600 for e in refusals)


async def test_token_endpoint_is_not_classified(tmp_path: Path) -> None:
    settings = agent_settings(tmp_path, agents={"registrations_per_ip_per_hour": 1})
    async with running(settings) as h:
        reg = await h.registered()
        for _ in range(3):
            token = await h.token(reg["client_id"], reg["client_secret"])
            assert token.status_code == 200
            assert "x-ratelimit-limit" not in token.headers


async def test_forwarded_for_counts_only_from_trusted_proxies(tmp_path: Path) -> None:
    settings = agent_settings(tmp_path, agents={"registrations_per_ip_per_hour": 1,
                                                "free_tier": "agent_free",
                                                "trusted_proxies": ["10.0.0.0/8"]})
    async with running(settings) as h:
        proxy = h.client("10.1.2.3")
        for n, client_ip in enumerate(("198.51.100.1", "198.51.100.2")):
            body = await h.body(agent_name=f"behind-proxy-{n}", billing_token=None)
            response = await proxy.post(REGISTER, json=body,
                                        headers={"X-Forwarded-For": client_ip})
            assert response.status_code == 201, response.text
        again = await proxy.post(REGISTER, json=await h.body(agent_name="again",
                                                             billing_token=None),
                                 headers={"X-Forwarded-For": "198.51.100.1"})
        assert again.status_code == 429

        stranger = h.client("203.0.113.99")  # not a proxy: its X-Forwarded-For is ignored
        first = await stranger.post(REGISTER, json=await h.body(agent_name="s1",
                                                                billing_token=None),
                                    headers={"X-Forwarded-For": "1.1.1.1"})
        spoofed = await stranger.post(REGISTER, json=await h.body(agent_name="s2",
                                                                  billing_token=None),
                                      headers={"X-Forwarded-For": "2.2.2.2"})
        assert (first.status_code, spoofed.status_code) == (201, 429)


async def test_authorization_endpoint_is_limited_per_address(tmp_path: Path) -> None:
    """Each request to /oauth/authorize may make the server fetch a CIMD document: one address
    gets the human tier (10 per second), another address keeps its own budget."""
    async with running(agent_settings(tmp_path)) as h:
        statuses = [(await h.client(FLOODER).get("/oauth/authorize")).status_code
                    for _ in range(30)]
        first = statuses.index(429)  # 30 requests in well under a second: over 10/s
        assert first >= 10 and set(statuses[:first]) == {400}  # a page: no client_id given
        assert (await h.client(OTHER).get("/oauth/authorize")).status_code == 400
