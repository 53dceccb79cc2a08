from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from import_export import resources
from import_export.admin import ImportExportModelAdmin
from unfold.admin import ModelAdmin, TabularInline
from unfold.contrib.filters.admin import RangeDateTimeFilter
from unfold.contrib.import_export.forms import ExportForm, ImportForm
from unfold.forms import AdminPasswordChangeForm

from apps.accounts.models import ActivityLog, OtpRequest, RegistrationSource, User
from modules.unfold.admin import ReadOnlyAdminMixin


class UserResource(resources.ModelResource):
    class Meta:
        model = User
        fields = (
            "id",
            "email",
            "phone",
            "first_name",
            "last_name",
            "registration_source",
            "is_active",
            "is_staff",
            "date_joined",
            "last_login",
            "last_activity",
        )
        import_id_fields = ("email",)

    def before_save_instance(self, instance: User, row: object, **kwargs: object) -> None:
        if instance._state.adding and instance.registration_source == RegistrationSource.ADMIN:
            instance.registration_source = RegistrationSource.IMPORT
        if instance._state.adding and not instance.password:
            instance.set_unusable_password()


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email", "phone")


class UserEditForm(UserChangeForm):
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
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    resource_classes = (UserResource,)
    import_form_class = ImportForm
    export_form_class = ExportForm
    inlines = (ActivityInline,)
    ordering = ("-date_joined",)
    list_display = (
        "__str__",
        "first_name",
        "last_name",
        "registration_source",
        "is_active",
        "is_staff",
        "date_joined",
        "last_activity",
    )
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
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "phone", "password1", "password2")}),)


@admin.register(ActivityLog)
class ActivityLogAdmin(ReadOnlyAdminMixin, ModelAdmin):
    list_display = ("created_at", "action", "user", "ip", "user_agent")
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
    list_display = ("created_at", "identifier", "purpose", "channel", "status", "attempts", "user", "ip")
    list_filter = ("purpose", "channel", "status", ("created_at", RangeDateTimeFilter))
    list_filter_submit = True
    search_fields = ("identifier", "ip", "user__email", "user__phone")
    list_select_related = ("user",)
