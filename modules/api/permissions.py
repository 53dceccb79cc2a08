"""Permission classes any app's API may use."""

from __future__ import annotations

from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, IsAdminUser
from rest_framework.request import Request
from rest_framework.views import APIView


class StaffWithModelPermissions(IsAdminUser):
    """Staff members who work on one app's records, as in the admin: reading (a safe method) takes
    `view_permission`, a change `change_permission`. Anyone not staff is refused with `message`; staff of other teams
    (without the permission) with a 403 that says which permissions they lack: the `team`'s, to read or change the
    `records`."""

    view_permission: str
    change_permission: str
    team: str
    records: str

    def has_permission(self, request: Request, view: APIView) -> bool:
        if not super().has_permission(request, view):
            return False
        reading = request.method in SAFE_METHODS
        if request.user.has_perm(self.view_permission if reading else self.change_permission):
            return True
        raise PermissionDenied(
            f"Your account does not have the {self.team} permissions to {'read' if reading else 'change'} "
            f"{self.records}: ask an administrator for them (or for a group that has them)."
        )
