"""EC2 request throttling for the emulator: AWS's token buckets (Amazon EC2 Developer Guide,
"Request throttling for the Amazon EC2 API"), off until configured.

EC2 throttles each account per Region with token buckets: every request takes one token from its
bucket, an empty bucket answers ``RequestLimitExceeded`` (HTTP 503), and each bucket refills at a
set rate up to its capacity. Here a mutating action with a bucket of its own (AWS's defaults: the
three VPC endpoint actions, capacity 4, refill 0.3/s) uses that; every other ``Describe*``,
``Get*``, ``List*`` and ``Search*`` action shares the non-mutating bucket (100, 20/s); anything
else shares the default bucket (50, 5/s). Pure logic and one lock; the WSGI wiring and the control
endpoint are in vpcgate_moto.py.
"""

from __future__ import annotations

import math
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

NON_MUTATING = "nonMutating"
DEFAULT = "default"
NON_MUTATING_PREFIXES = ("Describe", "Get", "List", "Search")

# AWS's published sizes (capacity in tokens, refill in tokens per second).
AWS_ACTION_BUCKETS: dict[str, dict[str, float]] = {
    action: {"capacity": 4, "refill": 0.3}
    for action in ("CreateVpcEndpoint", "ModifyVpcEndpoint", "DeleteVpcEndpoints")
}
AWS_NON_MUTATING = {"capacity": 100, "refill": 20}
AWS_DEFAULT = {"capacity": 50, "refill": 5}

# What EC2 answers when the bucket is empty (EC2 API Reference, "Error codes").
THROTTLED = {"code": "RequestLimitExceeded", "message": "Request limit exceeded.", "status": 503}

_ACTION_NAME = re.compile(r"[A-Z][A-Za-z0-9]*")


def _aws_action_buckets() -> dict[str, dict[str, float]]:
    """A copy, so no config shares (or changes) the module's defaults."""
    return {action: dict(spec) for action, spec in AWS_ACTION_BUCKETS.items()}


@dataclass(frozen=True)
class Config:
    """One validated POST body, AWS's defaults filled in for whatever it left out."""

    enabled: bool = False
    scale: float = 1.0
    buckets: dict[str, dict[str, float]] = field(default_factory=_aws_action_buckets)
    non_mutating: dict[str, float] = field(default_factory=lambda: dict(AWS_NON_MUTATING))
    default: dict[str, float] = field(default_factory=lambda: dict(AWS_DEFAULT))

    def as_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "scale": self.scale,
            "buckets": {a: dict(s) for a, s in sorted(self.buckets.items())},
            NON_MUTATING: dict(self.non_mutating),
            DEFAULT: dict(self.default),
        }

    def spec_of(self, bucket: str) -> dict[str, float]:
        if bucket == NON_MUTATING:
            return self.non_mutating
        if bucket == DEFAULT:
            return self.default
        return self.buckets[bucket]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _bucket_spec(where: str, spec: Any) -> dict[str, float]:
    """{"capacity": int >= 0, "refill": number >= 0}; both required so nothing is guessed.
    Capacity 0 always throttles and refill 0 never refills: deterministic tests."""
    if not isinstance(spec, dict):
        raise ValueError(f'{where} must be an object {{"capacity": ..., "refill": ...}}')
    unknown = set(spec) - {"capacity", "refill"}
    if unknown:
        raise ValueError(f"{where}: unknown fields {sorted(unknown)}")
    capacity, refill = spec.get("capacity"), spec.get("refill")
    if not _number(capacity) or capacity != int(capacity) or capacity < 0:
        raise ValueError(f"{where}.capacity must be an integer >= 0")
    if not _number(refill) or refill < 0:
        raise ValueError(f"{where}.refill must be a number >= 0 (tokens per second)")
    return {"capacity": int(capacity), "refill": refill}


def parse_config(body: Any) -> Config:
    """A POST body as a Config; ValueError naming the bad field (the caller changes nothing)."""
    if not isinstance(body, dict):
        raise ValueError('expected a JSON object {"enabled": true, ...}')
    unknown = set(body) - {"enabled", "scale", "buckets", NON_MUTATING, DEFAULT}
    if unknown:
        raise ValueError(f"unknown fields: {sorted(unknown)}")
    if not isinstance(body.get("enabled"), bool):
        raise ValueError("enabled is required and must be true or false")
    scale = body.get("scale", 1.0)
    if not _number(scale) or scale <= 0:
        raise ValueError("scale must be a number > 0 (it multiplies every refill rate)")
    per_action = body.get("buckets", {})
    if not isinstance(per_action, dict):
        raise ValueError("buckets must be an object keyed by EC2 action name")
    buckets = _aws_action_buckets()
    for action, spec in per_action.items():
        if not _ACTION_NAME.fullmatch(action):
            raise ValueError(f"buckets: {action!r} is not an EC2 action name")
        buckets[action] = _bucket_spec(f"buckets.{action}", spec)
    return Config(
        enabled=body["enabled"],
        scale=float(scale),
        buckets=buckets,
        non_mutating=_bucket_spec(NON_MUTATING, body.get(NON_MUTATING, AWS_NON_MUTATING)),
        default=_bucket_spec(DEFAULT, body.get(DEFAULT, AWS_DEFAULT)),
    )


def bucket_of(config: Config, action: str) -> str:
    """Which bucket an action draws from: its own, else by category (AWS's classification)."""
    if action in config.buckets:
        return action
    if action.startswith(NON_MUTATING_PREFIXES):
        return NON_MUTATING
    return DEFAULT


@dataclass
class _Bucket:
    capacity: int
    refill: float  # tokens per second, scale applied
    tokens: float
    stamp: float

    def level(self, now: float) -> float:
        """Tokens now: refilled continuously since the last look, never above capacity."""
        return min(self.capacity, self.tokens + (now - self.stamp) * self.refill)

    def take(self, now: float) -> bool:
        self.tokens, self.stamp = self.level(now), now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class Throttle:
    """The buckets of every account/Region seen, the config and the per-action counters, all
    under one lock (moto's server is threaded). Buckets are made full on a scope's first request,
    which is the same as full when configured."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._config = Config()
        self._scopes: dict[str, dict[str, _Bucket]] = {}
        self._counters: dict[str, dict[str, int]] = {}

    @property
    def enabled(self) -> bool:
        """Unlocked read for the fast path; a request racing a POST may see either config."""
        return self._config.enabled

    def configure(self, config: Config) -> None:
        """Replace the config; buckets start full and the counters from zero."""
        with self._lock:
            self._config, self._scopes, self._counters = config, {}, {}

    def clear(self) -> None:
        self.configure(Config())

    def admit(self, scope: str, action: str) -> bool:
        """Take a token for one request of ``action`` in ``scope`` ("<account>/<region>");
        False: throttle it. Always True (and not counted) while disabled."""
        with self._lock:
            config = self._config
            if not config.enabled:
                return True
            now = self._clock()
            name = bucket_of(config, action)
            buckets = self._scopes.setdefault(scope, {})
            bucket = buckets.get(name)
            if bucket is None:
                spec = config.spec_of(name)
                bucket = buckets[name] = _Bucket(
                    spec["capacity"], spec["refill"] * config.scale, spec["capacity"], now
                )
            allowed = bucket.take(now)
            counts = self._counters.setdefault(action, {"allowed": 0, "throttled": 0})
            counts["allowed" if allowed else "throttled"] += 1
            return allowed

    def state(self) -> dict[str, Any]:
        """The config, the counters per action and each used bucket's token level now."""
        with self._lock:
            now = self._clock()
            return {
                **self._config.as_json(),
                "counters": {a: dict(c) for a, c in sorted(self._counters.items())},
                "tokens": {
                    scope: {name: round(b.level(now), 3) for name, b in sorted(buckets.items())}
                    for scope, buckets in sorted(self._scopes.items())
                },
            }
