"""The form renderer (FORM_RENDERER): Django's default, DjangoTemplates, whose engine imports a template tag library
when a template first loads it rather than every installed app's libraries when the engine starts.

Unfold renders a checkbox when unfold.admin is imported (ModelAdmin's action_checkbox header), so the forms engine
starts in every process that imports the admin: a web worker, the task worker, each management command. With Django's
engine that start imports the template tag modules of every installed app (about 200 modules: Django REST framework's,
and through them requests and pygments, import-export's, Unfold's...), although the form and widget templates load
few of them. The templates found, the libraries a name resolves to and the errors stay Django's."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module
from pkgutil import walk_packages
from typing import Any

from django.apps import apps
from django.forms.renderers import DjangoTemplates as DjangoTemplatesRenderer
from django.template.backends.django import DjangoTemplates
from django.template.library import InvalidTemplateLibrary, Library


def library_candidates() -> dict[str, list[str]]:
    """Every module under django.templatetags and the installed apps' templatetags packages, by library name, in
    Django's order (get_template_tag_modules): a later app's module of the same name takes precedence."""
    candidates: dict[str, list[str]] = {}
    for package_name in ["django.templatetags", *(f"{config.name}.templatetags" for config in apps.get_app_configs())]:
        try:
            package = import_module(package_name)
        except ImportError:
            continue
        if hasattr(package, "__path__"):
            for entry in walk_packages(package.__path__, f"{package_name}."):
                name = entry.name.removeprefix(package_name).lstrip(".")
                candidates.setdefault(name, []).append(entry.name)
    return candidates


class DeferredLibraries(Mapping[str, Library]):
    """Template tag libraries by name, each imported at its first lookup (a template's {% load %}). A name resolves as
    Django's get_installed_libraries() resolves it: to the last candidate module that has a `register`."""

    def __init__(self, candidates: dict[str, list[str]]) -> None:
        self.candidates = candidates
        self.loaded: dict[str, Library] = {}

    def __getitem__(self, name: str) -> Library:
        if name not in self.loaded:
            self.loaded[name] = self.import_library(name)
        return self.loaded[name]

    def import_library(self, name: str) -> Library:
        for path in reversed(self.candidates.get(name, [])):
            try:
                module = import_module(path)
            except ImportError as error:
                raise InvalidTemplateLibrary(
                    f"Invalid template library specified. ImportError raised when trying to load '{path}': {error}"
                ) from error
            library: Library | None = getattr(module, "register", None)
            if library is not None:
                return library
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self[name]
        except KeyError:
            return False
        return True

    # Listing the libraries (the error for an unknown {% load %} name lists them) imports them all, as Django would.
    def __iter__(self) -> Iterator[str]:
        return (name for name in list(self.candidates) if name in self)

    def __len__(self) -> int:
        return sum(1 for _ in self)


class DeferredLibrariesTemplates(DjangoTemplates):
    """Django's template backend, its engine's libraries imported at their first use."""

    def __init__(self, params: dict[str, Any]) -> None:
        super().__init__(params)
        custom = {name: [path] for name, path in self.custom_libraries.items()}
        candidates = {**library_candidates(), **custom}
        self.engine.libraries = {name: paths[-1] for name, paths in candidates.items()}
        # Typed as a dict, but the engine's templates only look libraries up and list them, as a Mapping does.
        self.engine.template_libraries = DeferredLibraries(candidates)  # type: ignore[assignment]

    def get_templatetag_libraries(self, custom_libraries: dict[str, str]) -> dict[str, str]:
        # The engine imports every library this returns; __init__ gives it the deferred ones afterwards.
        self.custom_libraries = custom_libraries
        return {}


class FormRenderer(DjangoTemplatesRenderer):
    backend = DeferredLibrariesTemplates
