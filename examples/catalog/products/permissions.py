from rest_framework import permissions


class IsOwnerOrStaffOrReadOnly(permissions.BasePermission):
    """Anyone reads; a product is changed or removed by whoever listed it, or by staff."""

    def has_object_permission(self, request, view, obj) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return request.user.is_staff or obj.created_by_id == request.user.id


class IsStaffOrReadOnly(permissions.BasePermission):
    """Anyone reads; only staff curate categories and tags."""

    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        return bool(request.user and request.user.is_staff)
