"""The API's JWT authentication: simplejwt's, with a cheaper load of the user on every authenticated request."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import connections, router
from django.utils.translation import gettext as _
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from rest_framework_simplejwt import authentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token
from rest_framework_simplejwt.utils import get_md5_hash_password

from apps.accounts.models import User

# Never read on an authenticated request (inactive users are refused): not fetched, so the password hash stays out
# of every request's memory. Reading one costs a query; save() without update_fields writes only loaded fields.
UNREAD_COLUMNS = ("password", "deleted_at")

# alias -> (SQL, the attnames of its columns in order), or None where the ORM must load (see user_select).
_compiled: dict[str, tuple[str, list[str]] | None] = {}


def user_select(alias: str) -> tuple[str, list[str]] | None:
    """The SELECT of one user by primary key, without UNREAD_COLUMNS. Compiling it is most of what an ORM `get()`
    costs (about 300 of 370 µs; the round trip is 70 µs), so it is compiled once per process and run with the key.
    None when a column needs a conversion from the database (a custom field): the ORM applies those."""
    if alias not in _compiled:
        fields = [field.attname for field in User._meta.concrete_fields if field.attname not in UNREAD_COLUMNS]
        compiler = User.objects.only(*fields).filter(pk=0).order_by().query.get_compiler(alias)
        sql, params = compiler.as_sql()
        columns = [expression for expression, _sql, _alias in compiler.select]
        plain = params == (0,) and not compiler.get_converters(columns)
        _compiled[alias] = (sql, [column.target.attname for column in columns]) if plain else None
    return _compiled[alias]


def user_by_id(user_id: Any) -> User | None:
    """The user with this primary key, as `User.objects.defer(*UNREAD_COLUMNS).get(pk=…)` returns it, or None."""
    pk_field = User._meta.pk
    assert pk_field is not None
    try:
        key = pk_field.get_prep_value(pk_field.to_python(user_id))
    except (TypeError, ValueError, ValidationError):
        return None
    alias = router.db_for_read(User) or "default"
    compiled = user_select(alias)
    if compiled is None:
        return User.objects.using(alias).defer(*UNREAD_COLUMNS).filter(pk=key).first()
    sql, columns = compiled
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [key])
        row = cursor.fetchone()
    return None if row is None else User.from_db(alias, columns, row)


class JWTAuthentication(authentication.JWTAuthentication):
    """simplejwt's get_user, the same checks and errors, loading the user with user_by_id."""

    # simplejwt annotates the return with a TypeVar that no argument carries: no override can satisfy it.
    def get_user(self, validated_token: Token) -> User:  # type: ignore[override]
        try:
            user_id = validated_token[api_settings.USER_ID_CLAIM]
        except KeyError as error:
            raise InvalidToken(_("Token contained no recognizable user identification")) from error
        if api_settings.CHECK_REVOKE_TOKEN or api_settings.USER_ID_FIELD not in ("id", "pk"):
            # A revocation check compares the password's hash; another id field is not the key.
            user: User | None = User.objects.filter(**{api_settings.USER_ID_FIELD: user_id}).first()
        else:
            user = user_by_id(user_id)
        if user is None:
            raise AuthenticationFailed(_("User not found"), code="user_not_found")
        if api_settings.CHECK_USER_IS_ACTIVE and not user.is_active:
            raise AuthenticationFailed(_("User is inactive"), code="user_inactive")
        if api_settings.CHECK_REVOKE_TOKEN and validated_token.get(
            api_settings.REVOKE_TOKEN_CLAIM
        ) != get_md5_hash_password(user.password):
            raise AuthenticationFailed(_("The user's password has been changed."), code="password_changed")
        return user


class JWTScheme(SimpleJWTScheme):  # type: ignore[no-untyped-call]  # registers the extension
    """The schema's security scheme for it: simplejwt's (`jwtAuth`, a bearer JWT)."""

    target_class = "apps.accounts.authentication.JWTAuthentication"
