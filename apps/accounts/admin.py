from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.http import HttpRequest
from import_export.admin import ImportExportModelAdmin
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import RangeDateTimeFilter
from unfold.contrib.import_export.forms import ExportForm, ImportForm
from unfold.decorators import display
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from apps.accounts import resources as user_files
from apps.accounts.models import ActivityLog, OtpRequest, User
from modules.unfold.admin import ReadOnlyAdminMixin


class UserAddForm(UserCreationForm):
    """Unfold's form (its password widgets), for this project's user: an email address or a phone number."""

    class Meta:
        model = User
        fields = ("email", "phone")


class UserEditForm(UserChangeForm):
    """Unfold's form: the password shows as its hash with a button to the change_password form."""

    class Meta:
        model = User
        fields = "__all__"


class ActivityInline(TabularInline):
    model = ActivityLog
    fields = ("created_at", "action", "ip", "user_agent", "details")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    ordering = ("-created_at",)
    show_change_link = True


@admin.register(User)
class UserAdmin(DjangoUserAdmin, ModelAdmin, ImportExportModelAdmin):
    form = UserEditForm
    add_form = UserAddForm
    change_password_form = AdminPasswordChangeForm
    resource_classes = (user_files.UserResource,)
    import_form_class = ImportForm
    export_form_class = ExportForm
    inlines = (ActivityInline,)
    ordering = ("-date_joined",)
    # Short enough for a phone: the rest is on the user's page and in the filters.
    list_display = ("__str__", "name", "registration_source", "is_active", "is_staff", "date_joined")
    list_filter = (
        "registration_source",
        "is_active",
        "is_staff",
        "is_superuser",
        ("date_joined", RangeDateTimeFilter),
        ("last_activity", RangeDateTimeFilter),
    )
    list_filter_submit = True
    search_fields = ("email", "phone", "first_name", "last_name")
    readonly_fields = ("date_joined", "last_login", "last_activity", "deleted_at")
    fieldsets = (
        (None, {"fields": ("email", "phone", "password")}),
        ("Personal", {"fields": ("first_name", "last_name", "avatar", "telegram_chat_id")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Activity", {"fields": ("registration_source", "date_joined", "last_login", "last_activity", "deleted_at")}),
    )
    add_fieldsets = (
        (None, {"fields": ("email", "phone")}),
        # Users sign in with codes; a password is for those who use the admin.
        ("Password", {"fields": ("usable_password", "password1", "password2")}),
    )

    def get_inlines(self, request: HttpRequest, obj: User | None) -> tuple[type[ActivityInline], ...]:
        # A user being added has no activity yet.
        return self.inlines if obj is not None else ()

    @display(description="Name", ordering="last_name")
    def name(self, user: User) -> str:
        return f"{user.first_name} {user.last_name}".strip()


@admin.register(ActivityLog)
class ActivityLogAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("created_at", "action", "user", "ip")
    list_filter = ("action", ("created_at", RangeDateTimeFilter))
    list_filter_submit = True
    search_fields = ("user__email", "user__phone", "ip")
    list_select_related = ("user",)
    readonly_fields = ("user", "action", "ip", "user_agent", "details", "created_at")


@admin.register(OtpRequest)
class OtpRequestAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """Codes are never shown: only their delivery and use (the hash and salt are left out entirely)."""

    fields = (
        "identifier",
        "purpose",
        "channel",
        "user",
        "status",
        "attempts",
        "created_at",
        "sent_at",
        "expires_at",
        "used_at",
        "ip",
        "user_agent",
        "error",
    )
    readonly_fields = fields
    list_display = ("identifier", "purpose", "channel", "status", "created_at")
    list_filter = ("purpose", "channel", "status", ("created_at", RangeDateTimeFilter))
    list_filter_submit = True
    search_fields = ("identifier", "ip", "user__email", "user__phone")
    list_select_related = ("user",)


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(DjangoGroupAdmin, ModelAdmin):
    """Django's group admin (permissions picker, search) in Unfold's pages."""


# simplejwt registers plain Django admins for its tables; these are Unfold's, and only for reading.
admin.site.unregister(OutstandingToken)
admin.site.unregister(BlacklistedToken)


class TokenAuditAdmin(ReadOnlyAdminMixin, ModelAdmin):
    """An audit list: deleting a row would forget a token was issued or, worse, that it was revoked."""

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(OutstandingToken)
class OutstandingTokenAdmin(TokenAuditAdmin):
    list_display = ("user", "created_at", "expires_at", "revoked")
    list_filter = (("created_at", RangeDateTimeFilter), ("expires_at", RangeDateTimeFilter))
    list_filter_submit = True
    search_fields = ("user__email", "user__phone", "jti")
    list_select_related = ("user", "blacklistedtoken")
    ordering = ("-created_at",)
    fields = ("user", "jti", "created_at", "expires_at", "revoked")
    readonly_fields = fields

    @display(description="Revoked", boolean=True)
    def revoked(self, token: OutstandingToken) -> bool:
        return hasattr(token, "blacklistedtoken")


@admin.register(BlacklistedToken)
class BlacklistedTokenAdmin(TokenAuditAdmin):
    list_display = ("token_user", "blacklisted_at", "token_expires_at")
    list_filter = (("blacklisted_at", RangeDateTimeFilter),)
    list_filter_submit = True
    search_fields = ("token__user__email", "token__user__phone", "token__jti")
    list_select_related = ("token__user",)
    ordering = ("-blacklisted_at",)
    fields = ("token", "token_user", "blacklisted_at", "token_expires_at")
    readonly_fields = fields

    @display(description="User", ordering="token__user")
    def token_user(self, blacklisted: BlacklistedToken) -> object:
        return blacklisted.token.user

    @display(description="Expires", ordering="token__expires_at")
    def token_expires_at(self, blacklisted: BlacklistedToken) -> object:
        return blacklisted.token.expires_at
