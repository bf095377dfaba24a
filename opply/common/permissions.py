from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAdminUser

IsStaff = IsAdminUser


class ReadOnlyOrStaff(BasePermission):
    """Any authenticated caller may read; only staff may write."""

    def has_permission(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in SAFE_METHODS or bool(request.user.is_staff)
