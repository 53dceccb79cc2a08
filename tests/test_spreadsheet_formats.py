"""tablib's xlsx format, deferred (modules/spreadsheet_formats.py): registered when Django starts, it reads and writes
workbooks as tablib's own format does once it is used."""

from __future__ import annotations

import io

import openpyxl
import tablib
from import_export.formats.base_formats import BINARY_FORMATS, DEFAULT_FORMATS, XLSX
from tablib.formats import registry
from tablib.formats._xlsx import XLSXFormat

from modules.spreadsheet_formats import DeferredFormat


def dataset() -> tablib.Dataset:
    rows = tablib.Dataset(headers=["name", "phone"])
    rows.append(["Ada", "+44 20 7946 0000"])
    return rows


def test_django_starts_with_the_deferred_format_that_import_export_lists() -> None:
    deferred = registry.get_format("xlsx")
    assert isinstance(deferred, DeferredFormat)
    assert (deferred.title, deferred.extensions) == (XLSXFormat.title, XLSXFormat.extensions)
    assert XLSX in DEFAULT_FORMATS and XLSX in BINARY_FORMATS
    assert XLSX().can_import() and XLSX().can_export() and XLSX().get_extension() == "xlsx"


def test_a_workbook_written_through_it_is_tablibs_and_reads_back() -> None:
    workbook = dataset().export("xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(workbook)).active
    assert sheet is not None
    assert [[cell.value for cell in row] for row in sheet.iter_rows()] == [
        ["name", "phone"],
        ["Ada", "+44 20 7946 0000"],
    ]
    read = tablib.Dataset().load(workbook, format="xlsx")
    assert (read.headers, list(read)) == (["name", "phone"], [("Ada", "+44 20 7946 0000")])
    assert tablib.detect_format(workbook) == "xlsx"


def test_import_exports_xlsx_format_writes_and_reads_through_it() -> None:
    written = XLSX().export_data(dataset())
    read = XLSX().create_dataset(written)
    assert (read.headers, list(read)) == (["name", "phone"], [("Ada", "+44 20 7946 0000")])


def test_a_book_of_sheets_writes_and_reads_back() -> None:
    book = tablib.Databook([dataset()])
    read = tablib.Databook().load(book.export("xlsx"), format="xlsx")
    assert [list(sheet) for sheet in read.sheets()] == [[("Ada", "+44 20 7946 0000")]]
