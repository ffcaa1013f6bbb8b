"""Sending settings staff change in the admin (settings store key ``"sending"``).

One JSON object holds the throttle (global messages per second, per-domain windows, the
per-provider presets), the extra SMTP relays with weights, the error brake, and the
ledger's timing knobs. Values missing from an older stored object fall back to the
defaults below, so adding a knob never breaks a running installation.

Provider presets (issue 17, item 5) are keyed by the provider codes of
``mail.providers``: a window over all of a provider's domains and the back-off after it
says "slow down" (``mail.throttle``). ``TIDINGS_PROVIDER_LIMITS``, where set, wins over
the stored presets for the providers it names (the house pattern of ``site_settings``):
``tencent=60/60,netease=40/60/120/3600`` (limit/window[/backoff[/backoff_max]] seconds).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from sqlalchemy.orm import Session

from service.accounts.settings_store import get_setting, set_setting
from service.config import ConfigError, Settings, parse_smtp_url
from service.errors import FieldErrors, Message
from service.mail.providers import PROVIDERS

SETTINGS_KEY = "sending"

# Messages per second across every worker on every machine (0 = no global limit).
DEFAULT_GLOBAL_RATE = 1000.0
# Per-domain windows, for a domain that needs its own: the defaults that were here
# (qq.com, 163.com, 126.com: 60 per 60 s; gmail.com 600) are provider presets now.
DEFAULT_DOMAIN_LIMITS: dict[str, dict[str, float]] = {}
# Chinese mailbox providers throttle bulk senders hard (PEERS §7); start gently. QQ
# blocks for "minutes, hours or the day" after its per-minute, hourly and daily limits
# (its help centre, see ``provider_replies``): a minute first, doubling to an hour.
_GENTLE = {"limit": 60, "window": 60, "backoff": 60, "backoff_max": 3600}
DEFAULT_PROVIDER_LIMITS: dict[str, dict[str, float]] = {
    "tencent": dict(_GENTLE),
    "tencent_exmail": dict(_GENTLE),
    "netease": dict(_GENTLE),
    "netease_qiye": dict(_GENTLE),
    "gmail": {"limit": 600, "window": 60, "backoff": 60, "backoff_max": 1800},
}
PROVIDER_LIMITS_ENV = "TIDINGS_PROVIDER_LIMITS"
PROVIDER_FIELDS = ("limit", "window", "backoff", "backoff_max")
DEFAULT_ERROR_BRAKE = 50
DEFAULT_BATCH_SIZE = 100
# Batches queued ahead per campaign: enough to keep every worker busy, few enough that a
# paused campaign has little queued work and a lost Redis loses little.
DEFAULT_MAX_BATCHES_IN_FLIGHT = 16
# Retry: exponential backoff from this base, capped, with ±jitter, at most this many tries.
DEFAULT_RETRY_BASE_SECONDS = 60.0
DEFAULT_RETRY_MAX_SECONDS = 3600.0
DEFAULT_RETRY_JITTER = 0.2
DEFAULT_MAX_ATTEMPTS = 8
# A `queued` row older than this lost its Redis hint (Redis restart, worker killed with its
# prefetched message): the sweep returns it to `pending` and dispatch queues it again.
DEFAULT_QUEUED_STALE_SECONDS = 900.0
# A `sending` row older than this belonged to a worker that died mid-batch (the task time
# limit is 600 s): the sweep marks it `unknown`.
DEFAULT_SENDING_STALE_SECONDS = 900.0
# A worker sending a batch refreshes its claim's heartbeat this often (from a thread, so a
# slow SMTP reply does not stop it); a claim whose heartbeat is older than
# ``DEFAULT_WORKER_DEAD_SECONDS`` belonged to a worker that died, and the sweep (every
# few seconds) settles its rows: the ones it never began go out again from another worker.
DEFAULT_HEARTBEAT_SECONDS = 5.0
DEFAULT_WORKER_DEAD_SECONDS = 20.0
# Results are committed in groups of this many messages (see README, "commit groups").
DEFAULT_COMMIT_GROUP = 20
# The error brake heals (``campaigns.healing``): after a trip on a transient fault the
# relay is probed after 15 s, then 30 s, 60 s, ... — soon enough that a relay back within
# a minute costs a minute, not a person's evening — capped at 10 minutes apart, because
# a relay down for long gains nothing from being asked more often.
DEFAULT_PROBE_BASE_SECONDS = 15.0
DEFAULT_PROBE_MAX_SECONDS = 600.0
# Twelve probes cover about an hour (15 s doubling to the 10-minute cap): a relay gone for
# longer is a fault for a person to look at, and the campaign stays paused for them.
# 0 switches healing off (every trip waits for a person, as before).
DEFAULT_PROBE_MAX_ATTEMPTS = 12
# Times a campaign resumes by itself: a relay that greets and takes MAIL FROM but fails
# every message would otherwise pause and resume it forever, using up each row's retries.
DEFAULT_MAX_AUTO_RESUMES = 5

NOT_A_NUMBER = Message.of("settings.not_a_number", "Enter a number.")
NOT_POSITIVE = Message.of("settings.not_positive", "Enter a positive number.")
DEAD_TOO_SOON = Message.of(
    "settings.dead_too_soon", "Allow at least three heartbeats before a worker counts as dead."
)


class SendingConfigError(FieldErrors):
    """A submitted sending setting is invalid; ``errors`` maps field to what is wrong."""


@dataclass(frozen=True)
class RelayConfig:
    """An extra SMTP relay: ``smtp://…`` URL and a weight (share of batches)."""

    url: str
    weight: float = 1.0


@dataclass(frozen=True)
class SendingConfig:
    """Every sending knob; see the module constants for what each one is for."""

    global_rate: float = DEFAULT_GLOBAL_RATE
    domain_limits: dict[str, dict[str, float]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_DOMAIN_LIMITS.items()}
    )
    provider_limits: dict[str, dict[str, float]] = field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_PROVIDER_LIMITS.items()}
    )
    relays: tuple[RelayConfig, ...] = ()
    primary_weight: float = 1.0
    error_brake: int = DEFAULT_ERROR_BRAKE
    batch_size: int = DEFAULT_BATCH_SIZE
    max_batches_in_flight: int = DEFAULT_MAX_BATCHES_IN_FLIGHT
    retry_base_seconds: float = DEFAULT_RETRY_BASE_SECONDS
    retry_max_seconds: float = DEFAULT_RETRY_MAX_SECONDS
    retry_jitter: float = DEFAULT_RETRY_JITTER
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    queued_stale_seconds: float = DEFAULT_QUEUED_STALE_SECONDS
    sending_stale_seconds: float = DEFAULT_SENDING_STALE_SECONDS
    commit_group: int = DEFAULT_COMMIT_GROUP
    probe_base_seconds: float = DEFAULT_PROBE_BASE_SECONDS
    probe_max_seconds: float = DEFAULT_PROBE_MAX_SECONDS
    probe_max_attempts: int = DEFAULT_PROBE_MAX_ATTEMPTS
    max_auto_resumes: int = DEFAULT_MAX_AUTO_RESUMES
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    worker_dead_seconds: float = DEFAULT_WORKER_DEAD_SECONDS

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form for the settings store."""
        data = asdict(self)
        data["relays"] = [asdict(r) for r in self.relays]
        return data


_NUMBER_FIELDS = {
    f.name: f.type
    for f in fields(SendingConfig)
    if f.name not in ("domain_limits", "provider_limits", "relays")
}


def provider_limit(spec: Any) -> dict[str, float] | None:
    """One preset checked and completed (the defaults of a missing back-off), or None."""
    try:
        values = {
            "limit": float(spec["limit"]),
            "window": float(spec.get("window", 60)),
            "backoff": float(spec.get("backoff", 60)),
        }
        values["backoff_max"] = float(spec.get("backoff_max", max(3600.0, values["backoff"])))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if values["limit"] < 0 or min(values["window"], values["backoff"]) <= 0:
        return None
    if values["backoff_max"] < values["backoff"]:
        return None
    return values


def _validate_providers(
    data: dict[str, Any], defaults: SendingConfig, errors: dict[str, Message]
) -> dict[str, dict[str, float]]:
    if "provider_limits" not in data:
        return defaults.provider_limits
    presets: dict[str, dict[str, float]] = {}
    for code, spec in (data.get("provider_limits") or {}).items():
        key = str(code).strip().lower()
        if key not in PROVIDERS:
            errors["provider_limits"] = Message.of(
                "settings.unknown_provider",
                "%(provider)s: not a provider code (one of %(codes)s).",
                provider=key,
                codes=", ".join(PROVIDERS),
            )
            continue
        values = provider_limit(spec)
        if values is None:
            errors["provider_limits"] = Message.of(
                "settings.bad_provider_limit",
                "%(provider)s: give a limit (0 for none) and a window, first and longest "
                "back-off in seconds, all positive, the longest at least the first.",
                provider=key,
            )
            continue
        presets[key] = values
    return presets


def _validate(data: dict[str, Any]) -> tuple[SendingConfig, dict[str, Message]]:
    errors: dict[str, Message] = {}
    values: dict[str, Any] = {}
    defaults = SendingConfig()
    for name, kind in _NUMBER_FIELDS.items():
        raw = data.get(name, getattr(defaults, name))
        try:
            number: float | int = int(raw) if kind == "int" else float(raw)
        except (TypeError, ValueError):
            errors[name] = NOT_A_NUMBER
            continue
        if (
            number < 0
            or (
                name in ("batch_size", "max_batches_in_flight", "commit_group", "max_attempts")
                and number < 1
            )
            or (name in ("heartbeat_seconds", "worker_dead_seconds") and number <= 0)
        ):
            errors[name] = NOT_POSITIVE
            continue
        values[name] = number
    # A grace shorter than a few beats would take a live worker for a dead one.
    if values.get("worker_dead_seconds", 1) < 3 * values.get("heartbeat_seconds", 0):
        errors["worker_dead_seconds"] = DEAD_TOO_SOON
    limits: dict[str, dict[str, float]] = {}
    for domain, spec in (data.get("domain_limits") or {}).items():
        try:
            limit, window = float(spec["limit"]), float(spec.get("window", 60))
        except (KeyError, TypeError, ValueError):
            errors["domain_limits"] = Message.of(
                "settings.bad_domain_limit",
                "%(domain)s: give a limit and a window in seconds.",
                domain=domain,
            )
            continue
        if limit <= 0 or window <= 0 or "@" in domain or not domain.strip():
            errors["domain_limits"] = Message.of(
                "settings.domain_limit_not_positive",
                "%(domain)s: limit and window must be positive.",
                domain=domain,
            )
            continue
        limits[domain.strip().lower()] = {"limit": limit, "window": window}
    values["domain_limits"] = limits if "domain_limits" in data else defaults.domain_limits
    values["provider_limits"] = _validate_providers(data, defaults, errors)
    relays: list[RelayConfig] = []
    for entry in data.get("relays") or []:
        url = str(entry.get("url", "")).strip()
        try:
            parse_smtp_url(url, "relay")
            weight = float(entry.get("weight", 1))
            if weight < 0:
                raise ValueError("negative weight")
        except (ConfigError, TypeError, ValueError) as exc:
            # ConfigError's sentence (English) is shared with startup checks: quoted as is.
            errors["relays"] = Message.of(
                "settings.bad_relay", "%(url)s: %(error)s", url=url or "(empty)", error=str(exc)
            )
            continue
        relays.append(RelayConfig(url=url, weight=weight))
    values["relays"] = tuple(relays)
    config = SendingConfig(**values) if not errors else defaults
    return config, errors


def get_sending_config(session: Session) -> SendingConfig:
    """The stored sending settings over the defaults; an invalid stored value is ignored."""
    stored = get_setting(session, SETTINGS_KEY, {}) or {}
    if not isinstance(stored, dict):
        return SendingConfig()
    config, errors = _validate(stored)
    return config if not errors else SendingConfig()


def save_sending_config(session: Session, data: dict[str, Any]) -> SendingConfig:
    """Validate and store; raises ``SendingConfigError`` and stores nothing when invalid.

    Keys not given keep their stored (or default) value.
    """
    current = get_sending_config(session).to_dict()
    config, errors = _validate({**current, **data})
    if errors:
        raise SendingConfigError(errors)
    set_setting(session, SETTINGS_KEY, config.to_dict())
    return config


def through_relay(settings: Settings, config: SendingConfig) -> bool:
    """Whether mail leaves this machine: a real relay (not the local capture) is set in
    TIDINGS_SMTP_URL or among the extra relays of the sending settings."""
    return not settings.smtp_capture or bool(config.relays)


def env_provider_limits(settings: Settings) -> dict[str, dict[str, float]]:
    """The presets ``TIDINGS_PROVIDER_LIMITS`` pins (empty when unset); raises
    ``ConfigError`` naming the variable when it cannot be read."""
    raw = str(settings.extra.get(PROVIDER_LIMITS_ENV, "")).strip()
    out: dict[str, dict[str, float]] = {}
    for entry in filter(None, (e.strip() for e in raw.replace(";", ",").split(","))):
        code, _, numbers = entry.partition("=")
        code = code.strip().lower()
        parts = numbers.split("/")
        values = provider_limit(dict(zip(PROVIDER_FIELDS, parts, strict=False)))
        if code not in PROVIDERS or values is None or not 1 <= len(parts) <= 4:
            raise ConfigError(
                PROVIDER_LIMITS_ENV,
                f"{entry!r}: write provider=limit/window[/backoff[/backoff_max]] with a "
                f"provider code of: {', '.join(PROVIDERS)}",
            )
        out[code] = values
    return out


def provider_presets(settings: Settings, config: SendingConfig) -> dict[str, dict[str, float]]:
    """The presets in force: the stored ones, with ``TIDINGS_PROVIDER_LIMITS`` winning for
    the providers it names (an unreadable variable is ignored here; the admin page and
    the start of web, worker and beat, ``cli.common.startup_settings``, refuse it)."""
    try:
        pinned = env_provider_limits(settings)
    except ConfigError:
        pinned = {}
    return {**config.provider_limits, **pinned}
