"""Who asks: a stable, anonymous visitor id for rate limits, votes and the query log."""

import hashlib

from assistant import conf


def visitor_of(user, client_ip: str) -> str:
    """Who asks, for rate limits and votes: the user, or the IP of an anonymous reader."""
    ident = f"u:{user.pk}" if user is not None and user.is_authenticated else f"ip:{client_ip}"
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


def client_ip(meta: dict) -> str:
    """REMOTE_ADDR, or behind HELP_TRUSTED_PROXY_HOPS proxies the address the outermost of
    them saw (X-Forwarded-For is only trusted that far: the rest is the client's to forge)."""
    hops = int(conf.get("HELP_TRUSTED_PROXY_HOPS"))
    forwarded = [a.strip() for a in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    if hops > 0 and len(forwarded) >= hops:
        return forwarded[-hops]
    return meta.get("REMOTE_ADDR", "")
