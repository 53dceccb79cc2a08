"""The form renderer imports a template tag library when a template loads it, and resolves names as Django does."""

from __future__ import annotations

import sys

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates as DjangoTemplatesRenderer
from django.forms.renderers import get_default_renderer
from django.template import TemplateSyntaxError
from django.template.backends.django import get_installed_libraries

from modules.unfold.renderers import DeferredLibraries, DeferredLibrariesTemplates, FormRenderer


def forms_backend() -> DeferredLibrariesTemplates:
    backend = FormRenderer().engine
    assert isinstance(backend, DeferredLibrariesTemplates)
    return backend


def deferred_libraries() -> DeferredLibraries:
    libraries = forms_backend().engine.template_libraries
    assert isinstance(libraries, DeferredLibraries)
    return libraries


def test_the_project_renders_forms_with_it() -> None:
    assert isinstance(get_default_renderer(), FormRenderer)


def test_a_form_renders_as_with_djangos_renderer() -> None:
    class Contact(forms.Form):
        email = forms.EmailField(help_text="We answer here")
        subscribe = forms.BooleanField(required=False)
        attachment = forms.FileField(required=False)

    form = Contact(data={"email": "not an address"})
    assert form.render(renderer=FormRenderer()) == form.render(renderer=DjangoTemplatesRenderer())


def test_its_libraries_are_djangos_each_imported_at_its_first_load() -> None:
    libraries = deferred_libraries()
    assert libraries.loaded == {}
    installed = get_installed_libraries()
    assert sorted(libraries) == sorted(installed)
    assert all(libraries[name] is sys.modules[path].register for name, path in installed.items())


def test_a_template_loads_a_library_by_its_name() -> None:
    backend = forms_backend()
    libraries = backend.engine.template_libraries
    assert isinstance(libraries, DeferredLibraries) and "i18n" not in libraries.loaded
    template = backend.from_string("{% load i18n %}{% translate 'Save' %}")
    assert template.render({}) == "Save"
    assert "i18n" in libraries.loaded


def test_an_unknown_library_is_refused_with_djangos_error_listing_the_libraries() -> None:
    with pytest.raises(TemplateSyntaxError, match="'no_such_tags' is not a registered tag library") as refused:
        forms_backend().from_string("{% load no_such_tags %}")
    assert "\ni18n\n" in str(refused.value)


def test_the_last_module_with_a_register_wins_a_name_and_one_without_is_passed_over() -> None:
    libraries = DeferredLibraries(
        {"tz": ["django.templatetags.tz", "django.templatetags"], "none": ["django.templatetags"]}
    )
    assert libraries["tz"] is sys.modules["django.templatetags.tz"].register
    assert "none" not in libraries
    assert list(libraries) == ["tz"]
