"""What the apps' import/export resources (django-import-export) share: a file imports whole or not at all, and a
text cell that a spreadsheet would run as a formula is exported marked as text and imported back unmarked.

A cell that starts with =, +, -, @ (or a tab or carriage return) runs as a formula in a spreadsheet, and the apps
export text written by anyone on the internet. import-export's own escaping (IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT,
on) only drops a leading "=", so such a cell goes out with a leading apostrophe, the spreadsheets' mark for text, and
an import takes it off again: a phone number such as +44 20... goes out as '+44 20... and comes back unchanged."""

from __future__ import annotations

from typing import Any

from import_export import resources, widgets

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_MARK = "'"


def as_text(value: Any) -> Any:
    """A cell a spreadsheet would run as a formula, marked as text."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return TEXT_MARK + value
    return value


def unmarked(text: str) -> str:
    """A cell as as_text wrote it, back to its value."""
    if text.startswith(TEXT_MARK) and text[1:].startswith(FORMULA_STARTS):
        return text[1:]
    return text


def cell(value: Any) -> str:
    """A text cell as imported: a blank one is an empty string, one marked as text is unmarked."""
    return "" if value is None else unmarked(str(value).strip())


class TextWidget(widgets.CharWidget):  # type: ignore[misc]
    def clean(self, value: Any, row: Any = None, **kwargs: Any) -> str:
        return cell(value)


class WholeFileImport:
    """import-export's import, rolling back on a row's error too: the admin's confirmation step would otherwise save
    the good rows of a file and leave out the others. Mixed in before the resource class."""

    def import_data(
        self,
        dataset: Any,
        dry_run: bool = False,
        raise_errors: bool = False,
        use_transactions: bool | None = None,
        collect_failed_rows: bool = False,
        rollback_on_validation_errors: bool = True,
        **kwargs: Any,
    ) -> Any:
        return super().import_data(  # type: ignore[misc]
            dataset,
            dry_run=dry_run,
            raise_errors=raise_errors,
            use_transactions=use_transactions,
            collect_failed_rows=collect_failed_rows,
            rollback_on_validation_errors=rollback_on_validation_errors,
            **kwargs,
        )


class SafeModelResource(WholeFileImport, resources.ModelResource):  # type: ignore[misc]
    """A file imports whole or not at all, and every exported cell that would run as a formula is marked as text."""

    def export_field(self, field: Any, instance: Any, **kwargs: Any) -> Any:
        return as_text(super().export_field(field, instance, **kwargs))
