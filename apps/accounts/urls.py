from django.urls import path

from apps.accounts.api import auth, contact, deletion, me

app_name = "accounts"

urlpatterns = [
    path("auth/otp/request/", auth.OtpRequestView.as_view(), name="otp-request"),
    path("auth/otp/verify/", auth.OtpVerifyView.as_view(), name="otp-verify"),
    path("auth/token/refresh/", auth.TokenRefreshView.as_view(), name="token-refresh"),
    path("auth/logout/", auth.LogoutView.as_view(), name="logout"),
    path("accounts/me/", me.MeView.as_view(), name="me"),
    path("accounts/me/avatar/", me.AvatarView.as_view(), name="me-avatar"),
    path("accounts/me/telegram/", me.TelegramLinkView.as_view(), name="me-telegram"),
    path("accounts/me/telegram/confirm/", me.TelegramLinkConfirmView.as_view(), name="me-telegram-confirm"),
    path("accounts/me/email/", contact.EmailChangeView.as_view(), name="me-email"),
    path("accounts/me/email/confirm/", contact.EmailChangeConfirmView.as_view(), name="me-email-confirm"),
    path("accounts/me/phone/", contact.PhoneChangeView.as_view(), name="me-phone"),
    path("accounts/me/phone/confirm/", contact.PhoneChangeConfirmView.as_view(), name="me-phone-confirm"),
    path("accounts/me/delete/", deletion.AccountDeleteView.as_view(), name="me-delete"),
    path("accounts/me/delete/confirm/", deletion.AccountDeleteConfirmView.as_view(), name="me-delete-confirm"),
    path("accounts/me/activity/", me.ActivityListView.as_view(), name="me-activity"),
]
