from rest_framework import permissions


class IsSelfOrStaffOrReadOnly(permissions.BasePermission):
    """Anyone authenticated may read a user; only that user or staff may change or delete it."""

    def has_object_permission(self, request, view, obj):
        if request.method in permissions.SAFE_METHODS:
            return True
        return bool(request.user and (request.user.is_staff or request.user.pk == obj.pk))
