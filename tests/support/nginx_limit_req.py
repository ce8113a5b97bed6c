"""Debian's nginx `limit_req` in front of an upstream, as the rate-limit tests and
benchmarks/ratelimit.py run it: 50 r/s, burst 10, `nodelay`, no rate-limit headers; a 429 is
either nginx's own HTML page (`style="html"`) or the API's JSON envelope with `Retry-After: 1`
(`style="json"`). Give `LIMIT_ZONE` as `running_nginx`'s `http_block`."""

from __future__ import annotations

LIMIT_ZONE = "limit_req_zone $binary_remote_addr zone=api:1m rate=50r/s;\n    limit_req_status 429;"
PROXY = 'proxy_pass http://127.0.0.1:{upstream}; proxy_http_version 1.1; proxy_set_header Connection "";'
JSON_429 = """
        error_page 429 = @limited;
        location @limited {
            default_type application/json;
            add_header Retry-After 1 always;
            return 429 '{"error":{"code":"RATE_LIMITED","message":"Too many requests","details":{}}}';
        }"""


def limit_req_server(upstream: int, style: str) -> str:
    proxy = PROXY.format(upstream=upstream)
    return f"""
        location /api/ {{
            limit_req zone=api burst=10 nodelay;
            {proxy}
        }}
        location / {{ {proxy} }}
        {JSON_429 if style == "json" else ""}
"""
