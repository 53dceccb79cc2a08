"""Users to and from files in the admin (django-import-export): a file exported here imports back as it is.

What an import may write, and why:

- email, phone, first_name, last_name, is_active: what staff set on a user's page. Email addresses and phone numbers
  are normalised as sign-in normalises them (apps.accounts.identifiers), and a blank cell is no address or number
  (NULL, as the columns hold it: a blank string would be a value, and a second one would clash with the first).
  A blank is_active leaves it as it is (a new user is active).
- id finds the user and is never written: exported so that a file imports back onto the same users. A row without
  it (a file made by hand) is the user with that email address, else with that phone number, else a new user.
- is_staff is exported, not imported: staff access is granted on the user's page, one person at a time, not by a
  spreadsheet. A cell that differs from the user's is an error of its row, never ignored.
- registration_source, date_joined, last_login, last_activity: what the application recorded, exported for reading,
  never imported (a new user's source is "import"). A cell must be empty or as exported for that user (a second
  either way for the times); anything else is an error of its row, as for is_staff. The import page lists only the
  columns an import writes.
- password, is_superuser, groups, user_permissions, and any column this resource does not know: the file is refused
  with a message naming the column (a column ignored without a word, such as "Phone" for "phone", loses data).

Every problem is a message naming the row, raised before anything is saved: the format of a cell, an email address
or phone number already used by another user or twice in the file, a user with neither. The database's own refusal
is still turned into such a message should it come. A row is named as the admin's table numbers it (data rows from
1) and as a spreadsheet does (the header is line 1): "row 10 (line 11)". The preview shows "new" in the id column of
a new user: the id its rolled-back trial drew is not the one the confirmed import gives.

An import is one transaction: a file with any error saves nothing, also when a row fails only at the confirmation.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, router, transaction
from import_export import fields, resources, widgets
from import_export.forms import ImportForm
from tablib import Dataset

from apps.accounts.identifiers import IDENTIFIER_HELP, canonical_email, parse_identifier
from apps.accounts.models import RegistrationSource, User
from modules.spreadsheets import WholeFileImport

IMPORTED = ("email", "phone", "first_name", "last_name", "is_active")
EXPORTED_ONLY = ("id", "is_staff", "registration_source", "date_joined", "last_login", "last_activity")
# Exported for reading: a cell must be empty or as exported (RECORDED ones are what the application recorded).
RECORDED = ("registration_source", "date_joined", "last_login", "last_activity")
REFUSED = {
    "password": "passwords are never imported (users sign in with a code; staff set a password on the user's page)",
    "is_superuser": "superuser status is granted on the user's page, not by a file",
    "groups": "groups are given on the user's page, not by a file",
    "user_permissions": "permissions are given on the user's page, not by a file",
}
TRUE = frozenset({"1", "true", "yes", "y"})
FALSE = frozenset({"0", "false", "no", "n"})


def at(row: int) -> str:
    """Where a row is, as the admin's table numbers it (data rows from 1) and as a spreadsheet does (the header is
    line 1): "row 10 (line 11)"."""
    return f"row {row} (line {row + 1})"


def blank(value: Any) -> bool:
    return value is None or str(value).strip() == ""


def shown(value: Any) -> str:
    text = str(value).strip()
    return text if len(text) <= 60 else f"{text[:57]}..."


def email_in(value: Any, *, row: int) -> str | None:
    """The address as sign-in keys it, None for a blank cell; ValueError with the row's message otherwise."""
    if blank(value):
        return None
    text = str(value).strip()
    try:
        return canonical_email(text)
    except ValueError as error:
        reason = "write it as name@example.com" if str(error) == IDENTIFIER_HELP else str(error)
        raise ValueError(f"{at(row)}: email {shown(text)} is not a valid email address: {reason}") from None


def phone_in(value: Any, *, row: int) -> str | None:
    """The number in E.164 form, None for a blank cell; ValueError with the row's message otherwise."""
    if blank(value):
        return None
    text = str(value).strip()
    try:
        identifier = parse_identifier(text)
    except ValueError:
        identifier = None
    if identifier is None or identifier.kind != "phone":
        raise ValueError(
            f"{at(row)}: phone {shown(text)} is not a phone number in international form, e.g. +15551234567"
        ) from None
    return identifier.value


def flag_in(value: Any, *, column: str, row: int) -> bool | None:
    if isinstance(value, bool):
        return value
    if blank(value):
        return None
    text = str(value).strip().lower()
    if text in TRUE or text in FALSE:
        return text in TRUE
    raise ValueError(f"{at(row)}: {column} {shown(value)} is neither 1 nor 0 (true or false, yes or no)")


class EmailWidget(widgets.CharWidget):  # type: ignore[misc]
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str | None:
        return email_in(value, row=kwargs["row_number"])


class PhoneWidget(widgets.CharWidget):  # type: ignore[misc]
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str | None:
        return phone_in(value, row=kwargs["row_number"])


class FlagWidget(widgets.BooleanWidget):  # type: ignore[misc]
    """1 or 0 out; 1/0, true/false or yes/no in, and anything else an error (import-export's own reads any other
    word as false)."""

    def __init__(self, column: str) -> None:
        super().__init__()
        self.column = column

    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> bool | None:
        return flag_in(value, column=self.column, row=kwargs["row_number"])


class NewUserDiff(resources.Diff):  # type: ignore[misc]
    """import-export's preview of a row: for a new user, "new" in the id column rather than the id the preview's
    rolled-back save drew (the confirmed import draws other ids)."""

    def compare_with(self, resource: Any, instance: Any) -> None:
        super().compare_with(resource, instance)
        if self.new and self.right:
            columns = [field.column_name for field in resource.get_import_fields()]
            if "id" in columns:
                self.right[columns.index("id")] = "new"


class UserResource(WholeFileImport, resources.ModelResource):  # type: ignore[misc]
    id = fields.Field(attribute="id", column_name="id", widget=widgets.IntegerWidget(), readonly=True)
    email = fields.Field(attribute="email", column_name="email", widget=EmailWidget())
    phone = fields.Field(attribute="phone", column_name="phone", widget=PhoneWidget())
    # Blank leaves the user's flag as it is: a new user is active.
    is_active = fields.Field(
        attribute="is_active", column_name="is_active", widget=FlagWidget("is_active"), saves_null_values=False
    )
    is_staff = fields.Field(attribute="is_staff", column_name="is_staff", widget=FlagWidget("is_staff"), readonly=True)
    registration_source = fields.Field(
        attribute="registration_source", column_name="registration_source", readonly=True
    )
    date_joined = fields.Field(
        attribute="date_joined", column_name="date_joined", widget=widgets.DateTimeWidget(), readonly=True
    )
    last_login = fields.Field(
        attribute="last_login", column_name="last_login", widget=widgets.DateTimeWidget(), readonly=True
    )
    last_activity = fields.Field(
        attribute="last_activity", column_name="last_activity", widget=widgets.DateTimeWidget(), readonly=True
    )

    class Meta:
        model = User
        fields = (
            "id",
            "email",
            "phone",
            "first_name",
            "last_name",
            "is_active",
            "is_staff",
            "registration_source",
            "date_joined",
            "last_login",
            "last_activity",
        )
        # A list: import-export lets a file without the column through only when it is exactly ["id"].
        import_id_fields = ["id"]
        skip_unchanged = True
        report_skipped = True
        use_transactions = True
        # The checks are this resource's own (validate_instance), with messages that name the row.
        clean_model_instances = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # The admin makes the import page's resource with the import form (the export page's has none).
        self._for_import_page = isinstance(kwargs.get("form"), ImportForm)
        self._row_number = 0
        # (column, normalised value) -> the first row of the file that has it.
        self._first_rows: dict[tuple[str, Any], int] = {}

    def before_import(self, dataset: Dataset, **kwargs: Any) -> None:
        known = set(IMPORTED) | set(EXPORTED_ONLY)
        problems = [f"the column {name!r}: {REFUSED[name]}" for name in dataset.headers or () if name in REFUSED]
        unknown = [name for name in dataset.headers or () if name not in known and name not in REFUSED]
        if unknown:
            columns = ", ".join(repr(name) for name in unknown)
            problems.append(
                f"the file has columns this import does not read: {columns}; the columns are "
                f"{', '.join((*IMPORTED, *EXPORTED_ONLY))}"
            )
        if problems:
            raise ValueError("Nothing was imported. " + "; ".join(problems) + ".")
        self._first_rows = {}
        for number, values in enumerate(dataset.dict, 1):
            for column, read in (("id", self._id_in), ("email", email_in), ("phone", phone_in)):
                try:
                    value = read(values.get(column), row=number)
                except ValueError:  # reported by the row itself
                    continue
                if value is not None:
                    self._first_rows.setdefault((column, value), number)

    def before_import_row(self, row: dict[str, Any], **kwargs: Any) -> None:
        self._row_number = kwargs["row_number"]

    @staticmethod
    def _id_in(value: Any, *, row: int) -> int | None:
        if blank(value):
            return None
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            number = Decimal("NaN")
        if not number.is_finite() or number != number.to_integral_value():
            raise ValueError(f"{at(row)}: id {shown(value)} is not a user's id; leave it empty to add a new user")
        return int(number)

    def get_instance(self, instance_loader: Any, row: dict[str, Any]) -> User | None:
        number = self._row_number
        try:
            pk = self._id_in(row.get("id"), row=number)
        except ValueError as error:
            raise ValidationError({"id": str(error)}) from None
        if pk is not None:
            first = self._first_rows.get(("id", pk), number)
            if first < number:
                raise ValidationError(
                    {"id": f"{at(number)}: the user with id {pk} is also in {at(first)}; list each user once"}
                )
            user = User.objects.filter(pk=pk).first()
            if user is None:
                raise ValidationError({"id": f"{at(number)}: no user has the id {pk}; leave id empty to add a user"})
            return user
        # A row without an id: the user with its email address, else with its phone number. A cell that does not
        # read is reported when the column is imported.
        for column, read, lookup in (("email", email_in, "email__iexact"), ("phone", phone_in, "phone")):
            try:
                value = read(row.get(column), row=number)
            except ValueError:
                continue
            if value is not None:
                return User.objects.filter(**{lookup: value}).first()
        return None

    def import_instance(self, instance: User, row: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, list[ValidationError]] = {}
        try:
            super().import_instance(instance, row, **kwargs)
        except ValidationError as error:
            errors = error.update_error_dict(errors)
        number = kwargs["row_number"]
        for column in ("email", "phone"):
            value = getattr(instance, column)
            first = self._first_rows.get((column, value)) if column in row and column not in errors else None
            if first is not None and first < number:
                errors[column] = [
                    ValidationError(
                        f"{at(number)}: {column} {value} is also in {at(first)} of this file; it belongs to one user"
                    )
                ]
        if "is_staff" in row:
            try:
                staff = flag_in(row["is_staff"], column="is_staff", row=number)
            except ValueError as error:
                errors["is_staff"] = [ValidationError(str(error))]
            else:
                if staff is not None and staff != instance.is_staff:
                    errors["is_staff"] = [
                        ValidationError(
                            f"{at(number)}: is_staff cannot be changed by an import; grant or remove staff access on "
                            "the user's page, and leave the cell as exported (or empty)"
                        )
                    ]
        for column in RECORDED:
            if column in row and column not in errors:
                problem = self._recorded_problem(column, row[column], instance, number)
                if problem:
                    errors[column] = [ValidationError(problem)]
        if errors:
            raise ValidationError(errors)

    def _recorded_problem(self, column: str, value: Any, instance: User, number: int) -> str | None:
        """A cell of a column the application records: empty, or as exported for this user, else the message."""
        if blank(value):
            return None
        changed = (
            f"{at(number)}: {column} is recorded by the application and cannot be set by an import; leave the cell "
            "as exported (or empty)"
        )
        if instance._state.adding:
            return changed
        if column == "registration_source":
            return None if str(value).strip() == instance.registration_source else changed
        try:
            moment = self.fields[column].widget.clean(value)
        except ValueError:
            return f"{at(number)}: {column} {shown(value)} is not a date and time like 2025-01-31 14:05:00"
        stored = getattr(instance, column)
        # The file has whole seconds (a spreadsheet's may be a little off): a second either way is as exported.
        if stored is None or abs(moment - stored) >= timedelta(seconds=1):
            return changed
        return None

    def get_user_visible_fields(self) -> list[fields.Field]:
        """The columns the admin lists: on the import page ("This importer will import the following fields"), the
        ones an import writes (the export-only ones are checked, never written); elsewhere (the export page) all."""
        visible: list[fields.Field] = super().get_user_visible_fields()
        if self._for_import_page:
            return [field for field in visible if field.column_name in IMPORTED]
        return visible

    def get_diff_class(self) -> type[resources.Diff]:
        return NewUserDiff

    def validate_instance(
        self,
        instance: User,
        import_validation_errors: dict[str, list[ValidationError]] | None = None,
        validate_unique: bool = True,
    ) -> None:
        """Only for a row that changes something (an unchanged one is skipped): its fields, then the rules the
        database would enforce, each as a message naming the row."""
        number = self._row_number
        errors: dict[str, list[Any]] = {key: list(value) for key, value in (import_validation_errors or {}).items()}
        checked = set(IMPORTED) - set(errors)
        try:
            instance.clean_fields(exclude=[field.name for field in User._meta.fields if field.name not in checked])
        except ValidationError as error:
            for column, messages in error.message_dict.items():
                errors.setdefault(column, []).extend(f"{at(number)}: {column}: {message}" for message in messages)
        others = User.objects.exclude(pk=instance.pk) if instance.pk is not None else User.objects.all()
        if "email" not in errors and instance.email and others.filter(email__iexact=instance.email).exists():
            errors["email"] = [f"{at(number)}: email {instance.email} is already used by another user"]
        if "phone" not in errors and instance.phone and others.filter(phone=instance.phone).exists():
            errors["phone"] = [f"{at(number)}: phone {instance.phone} is already used by another user"]
        if not errors.keys() & {"email", "phone"} and not instance.email and not instance.phone:
            errors[NON_FIELD_ERRORS] = [f"{at(number)}: a user needs an email address or a phone number"]
        if errors:
            raise ValidationError(errors)

    def before_save_instance(self, instance: User, row: dict[str, Any], **kwargs: Any) -> None:
        if instance._state.adding:
            instance.registration_source = RegistrationSource.IMPORT
            instance.set_unusable_password()

    def save_instance(self, instance: User, is_create: bool, row: dict[str, Any], **kwargs: Any) -> None:
        """import-export's, with the database's refusal (a row saved by someone else since the checks) said as a
        message of the row, in a savepoint so that the import can go on to report the other rows."""
        try:
            with transaction.atomic(using=router.db_for_write(User)):
                super().save_instance(instance, is_create, row, **kwargs)
        except IntegrityError as error:
            constraint = getattr(getattr(error.__cause__, "diag", None), "constraint_name", None) or ""
            raise ValidationError(refusal(constraint, instance, kwargs["row_number"])) from None


def refusal(constraint: str, user: User, number: int) -> str | dict[str, str]:
    """The database's refusal of a user, by the name of the constraint, as a message of the row."""
    if constraint == "accounts_user_has_email_or_phone":
        return f"{at(number)}: a user needs an email address or a phone number"
    if "phone" in constraint:
        return {"phone": f"{at(number)}: phone {user.phone} is already used by another user"}
    if "email" in constraint:
        return {"email": f"{at(number)}: email {user.email} is already used by another user"}
    return f"{at(number)}: this user could not be saved ({constraint or 'refused by the database'})"
