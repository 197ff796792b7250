"""Who asks, without storing who: keyed hashes that can't be reversed.

- A signed-in user's id is an HMAC of their primary key with a secret of the deployment
  (derived from SECRET_KEY): stable, so their questions can be found, exported and deleted.
- An anonymous reader's id is an HMAC of their IP address with a key of the day: a random
  key made on the day's first question, kept in the cache (never in the database), dropped
  the day after. A database dump can't be reversed by hashing every IPv4 address, and one
  reader's days can't be linked; distinct visitors per day still count right.
- Votes, widget hits and follow-ups name an answer given to the same visitor: an answer given
  just before midnight still matches after it (the day before's key is kept for a day more).
- Rate limits count under another keyed id, stable across days and never written to the
  database (a reader gets no fresh budget at midnight).
"""

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from assistant import conf

log = logging.getLogger(__name__)

DAY_KEY = "assistant:visitor-key:{day}"
# A day's key lives through the next day too: answers given before midnight can be voted on
# after it; past that, it is gone, and that day's ids with it.
DAY_KEY_TTL = 2 * 86400
_local_keys: dict[date, bytes] = {}  # when the cache is down: per process, for the day
# A key read from the cache is kept here a minute: not a cache round trip per request, made
# on the event loop (a burst of questions waited on it), for a value that changes once a day.
KEY_MEMO_SECONDS = 60.0
_memo: dict[date, tuple[float, bytes | None]] = {}


@dataclass(frozen=True)
class Visitor:
    id: str  # what the query log keeps
    ids: tuple[str, ...]  # the ids their recent answers carry (today's, the day before's)
    limit_key: str  # rate limits: never written to the database


def _secret(purpose: str) -> bytes:
    return hashlib.sha256(f"helpdesk:{purpose}:{settings.SECRET_KEY}".encode()).digest()


def _hash(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


def now() -> datetime:
    """The time the day's key follows (a function: the tests hold it at midnight)."""
    return timezone.now()


def forget_keys() -> None:
    """Drop this process's copies of the day keys (the tests, after clearing the cache)."""
    _memo.clear()


def day_key(day: date) -> bytes | None:
    """The key of `day`, made on first use, shared through the cache; None once it is gone
    (only today's is made)."""
    memo = _memo.get(day)
    fresh = memo is not None and time.monotonic() - memo[0] < KEY_MEMO_SECONDS
    if fresh and day >= now().date() - timedelta(days=1):
        return memo[1]
    key = _shared_key(day)
    if key is None and day == now().date():  # the cache is down
        if day not in _local_keys:
            _local_keys.clear()
            _local_keys[day] = secrets.token_bytes(32)
        return _local_keys[day]
    # A past day's key that is gone is never made again: its absence is kept too.
    if len(_memo) > 2:  # today's and the day before's
        _memo.clear()
    _memo[day] = (time.monotonic(), key)
    return key


def _shared_key(day: date) -> bytes | None:
    """`day`'s key from the cache (made there if it is today's); None when it is gone or the
    cache is down."""
    name = DAY_KEY.format(day=day.isoformat())
    try:
        key = cache.get(name)
        if key is None and day == now().date():
            cache.add(name, secrets.token_hex(32), DAY_KEY_TTL)
            key = cache.get(name)
    except Exception as exc:  # a cache outage: a key of this process (day_key)
        log.warning("visitor key from the cache failed: %s", exc)
        return None
    return bytes.fromhex(key) if isinstance(key, str) else key


def user_id(pk) -> str:
    """A signed-in user's id in the query log (stable: export and erasure find it)."""
    return _hash(_secret("user"), f"u:{pk}")


def visitor_of(user, client_ip: str) -> Visitor:
    """Who asks, for rate limits, votes and the query log: the user, or the IP address of an
    anonymous reader, as keyed hashes."""
    if user is not None and user.is_authenticated:
        ident = user_id(user.pk)
        return Visitor(ident, (ident,), _hash(_secret("rate-limit"), f"u:{user.pk}"))
    limit_key = _hash(_secret("rate-limit"), f"ip:{client_ip}")
    today = now().date()
    ids = []
    for day in (today, today - timedelta(days=1)):
        key = day_key(day)
        if key is not None:
            ids.append(_hash(key, f"ip:{client_ip}"))
    return Visitor(ids[0], tuple(ids), limit_key)


def client_ip(meta: dict) -> str:
    """REMOTE_ADDR, or behind HELP_TRUSTED_PROXY_HOPS proxies the address the outermost of
    them saw (X-Forwarded-For is only trusted that far: the rest is the client's to forge)."""
    hops = int(conf.get("HELP_TRUSTED_PROXY_HOPS"))
    forwarded = [a.strip() for a in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    if hops > 0 and len(forwarded) >= hops:
        return forwarded[-hops]
    return meta.get("REMOTE_ADDR", "")
