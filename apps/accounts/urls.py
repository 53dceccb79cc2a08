from django.urls import path

from apps.accounts import views

app_name = "accounts"

urlpatterns = [
    path("auth/otp/request/", views.OtpRequestView.as_view(), name="otp-request"),
    path("auth/otp/verify/", views.OtpVerifyView.as_view(), name="otp-verify"),
    path("auth/token/refresh/", views.TokenRefreshView.as_view(), name="token-refresh"),
    path("auth/logout/", views.LogoutView.as_view(), name="logout"),
    path("accounts/me/", views.MeView.as_view(), name="me"),
    path("accounts/me/avatar/", views.AvatarView.as_view(), name="me-avatar"),
    path("accounts/me/telegram/", views.TelegramLinkView.as_view(), name="me-telegram"),
    path("accounts/me/telegram/confirm/", views.TelegramLinkConfirmView.as_view(), name="me-telegram-confirm"),
    path("accounts/me/email/", views.EmailChangeView.as_view(), name="me-email"),
    path("accounts/me/email/confirm/", views.EmailChangeConfirmView.as_view(), name="me-email-confirm"),
    path("accounts/me/phone/", views.PhoneChangeView.as_view(), name="me-phone"),
    path("accounts/me/phone/confirm/", views.PhoneChangeConfirmView.as_view(), name="me-phone-confirm"),
    path("accounts/me/activity/", views.ActivityListView.as_view(), name="me-activity"),
]
