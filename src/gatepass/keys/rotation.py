"""Key lifecycle: next -> current -> previous -> retired (DESIGN §4).

A new key is published as ``next`` before it signs; it becomes ``current`` only after the JWKS
cache lifetime we advise resource servers to use, so no verifier meets an unknown ``kid``. The
old key stays published as ``previous`` until the last token it signed has expired.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gatepass.clock import Clock
from gatepass.keys.keyring import KeySealer, generate_key
from gatepass.models import SigningKey
from gatepass.storage.base import KeyStore

__all__ = ["RotationReport", "ensure_signing_key", "rotate"]


@dataclass
class RotationReport:
    """What one rotation step did and when the next step is safe (epoch seconds)."""

    actions: list[str] = field(default_factory=list)
    next_step_at: float | None = None


async def _new_key(store: KeyStore, sealer: KeySealer, alg: str, state: str, now: float) -> str:
    key = generate_key(alg)
    kid = str(key.kid)
    await store.add_key(
        SigningKey(
            kid=kid,
            alg=alg,
            state=state,  # type: ignore[arg-type]
            public_jwk=key.as_dict(private=False),
            private_jwk_encrypted=sealer.seal(key.as_dict(private=True)),
            created_at=now,
            state_changed_at=now,
        )
    )
    return kid


async def ensure_signing_key(store: KeyStore, sealer: KeySealer, alg: str, clock: Clock) -> bool:
    """Create a ``current`` key if there is none (first start). True if one was created."""
    if any(k.state == "current" for k in await store.list_keys()):
        return False
    await _new_key(store, sealer, alg, "current", clock.now())
    return True


async def rotate(
    store: KeyStore,
    sealer: KeySealer,
    alg: str,
    clock: Clock,
    *,
    publish_delay: float,
    token_ttl: float,
    force: bool = False,
) -> RotationReport:
    """Run one lifecycle step.

    Retires ``previous`` keys whose tokens have all expired; promotes ``next`` to ``current`` once
    it has been published for ``publish_delay`` (or at once with ``force``, for development);
    otherwise publishes a new ``next`` key. ``force`` never retires a key before its tokens expire.
    """
    now = clock.now()
    report = RotationReport()
    keys = await store.list_keys()
    for k in keys:
        if k.state == "previous" and now >= k.state_changed_at + token_ttl:
            await store.set_key_state(k.kid, "retired", now)
            report.actions.append(f"retired {k.kid}")
    pending = [k for k in keys if k.state == "next"]
    if not pending:
        kid = await _new_key(store, sealer, alg, "next", now)
        report.actions.append(f"published {kid} as next")
        report.next_step_at = now + publish_delay
        if not force:
            return report
        pending = [k for k in await store.list_keys() if k.kid == kid]
    nxt = pending[-1]
    ready_at = nxt.state_changed_at + publish_delay
    if not force and now < ready_at:
        report.next_step_at = ready_at
        return report
    # Promote first: if a later write fails, two keys are current (the newer signs) rather than
    # none, and the server can still build its keyring.
    await store.set_key_state(nxt.kid, "current", now)
    report.actions.append(f"{nxt.kid} is now current")
    for k in keys:
        if k.state == "current":
            await store.set_key_state(k.kid, "previous", now)
            report.actions.append(f"{k.kid} is now previous")
    report.next_step_at = now + token_ttl
    return report
