"""The Content-Security-Policy header (django-csp), with the page's own host's websockets allowed.

The policy itself is settings.CONTENT_SECURITY_POLICY. connect-src names ws://<host> and wss://<host>
besides 'self': CSP Level 3 lets 'self' cover the same host's websockets, but older browsers (Safari
before 15.4) do not, and the live feeds must connect in every browser the dashboard supports.
"""

from __future__ import annotations

from csp.middleware import CSPMiddleware, PolicyParts
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest
from django.http.response import HttpResponseBase


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        try:
            host = request.get_host()  # validated against ALLOWED_HOSTS: nothing else enters the header
        except DisallowedHost:
            return parts
        sockets = [f"ws://{host}", f"wss://{host}"]
        update = dict(parts.update or {})
        update["connect-src"] = [*update.get("connect-src", []), *sockets]
        parts.update = update
        return parts
