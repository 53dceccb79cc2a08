"""tablib's xlsx format, imported at the first spreadsheet read or write instead of when the admin is imported.

django-import-export lists the formats tablib can use when import_export.admin is imported (base_formats'
DEFAULT_FORMATS asks tablib's registry for each one), and tablib's xlsx module imports openpyxl: about 175 modules in
every process that imports the admin, though only an xlsx import or export uses them. register_deferred_xlsx() puts
in the registry, under the same name, a format that imports tablib's xlsx module at its first use. It must run before
import_export.admin is imported: modules.unfold's app config calls it, as Django creates the app configs, before any
models or admin module is imported."""

from __future__ import annotations

from functools import cached_property
from importlib.util import find_spec
from typing import Any

XLSX_FORMAT = "tablib.formats._xlsx.XLSXFormat"


class DeferredFormat:
    """A tablib format, imported at its first use. import-export asks a format for its title and extensions (known
    here) and whether it has import_set and export_set (it has), which imports nothing."""

    def __init__(self, path: str, title: str, extensions: tuple[str, ...]) -> None:
        self.path = path
        self.title = title
        self.extensions = extensions

    @cached_property
    def format(self) -> Any:
        from tablib.formats import load_format_class

        return load_format_class(self.path)

    def export_set(self, dataset: Any, **kwargs: Any) -> Any:
        return self.format.export_set(dataset, **kwargs)

    def import_set(self, dataset: Any, in_stream: Any, **kwargs: Any) -> Any:
        return self.format.import_set(dataset, in_stream, **kwargs)

    def export_book(self, databook: Any, **kwargs: Any) -> Any:
        return self.format.export_book(databook, **kwargs)

    def import_book(self, databook: Any, in_stream: Any, **kwargs: Any) -> Any:
        return self.format.import_book(databook, in_stream, **kwargs)

    def detect(self, stream: Any) -> bool:
        detected: bool = self.format.detect(stream)
        return detected

    def __getattr__(self, name: str) -> Any:
        # What tablib's format has beyond the calls above (its helpers, such as dset_sheet).
        if name.startswith("__") or name == "format":
            raise AttributeError(name)
        return getattr(self.format, name)


def register_deferred_xlsx() -> None:
    """tablib registers xlsx when openpyxl is installed; so does this, before tablib's xlsx module is imported."""
    from tablib.formats import registry

    if find_spec("openpyxl") is not None:
        registry.register("xlsx", DeferredFormat(XLSX_FORMAT, title="xlsx", extensions=("xlsx",)))
