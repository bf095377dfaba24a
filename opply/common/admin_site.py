"""The Django admin, with its login form behind the API's login throttles.

Without this, ``/admin/login/`` accepts unlimited password guesses while the
token endpoint answers 429: the same per-username and per-IP budgets (the
same Redis counters) apply to both, so neither is a way around the other.
"""

from __future__ import annotations

import math
from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse

from opply.common.errors import problem_response
from opply.common.throttling import login_attempt_wait


class AdminSite(admin.AdminSite):
    site_header = "Opply administration"
    site_title = "Opply admin"

    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.method == "POST":
            wait = login_attempt_wait(request)
            if wait is not None:
                retry_after = max(1, math.ceil(wait))
                response = problem_response(
                    429, "throttled", f"Too many login attempts; retry in {retry_after} seconds.", retry_after=retry_after
                )
                response["Retry-After"] = str(retry_after)
                return response
        return super().login(request, extra_context)
