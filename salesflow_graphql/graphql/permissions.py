"""Permission classes for the two roles of SalesFlow."""

from __future__ import annotations

from typing import Any, ClassVar

from strawberry.permission import BasePermission

from ..errors import ErrorCode


class IsAuthenticated(BasePermission):
    """Any valid access token (USER or ADMIN)."""

    message = "A valid bearer token is required."
    error_extensions: ClassVar[dict[str, Any]] = {"code": str(ErrorCode.UNAUTHENTICATED)}

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return info.context.state.principal is not None


class IsAdmin(BasePermission):
    """An ADMIN access token."""

    message = "This operation needs the ADMIN role."
    error_extensions: ClassVar[dict[str, Any]] = {"code": str(ErrorCode.FORBIDDEN)}

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        principal = info.context.state.principal
        return principal is not None and principal.is_admin
