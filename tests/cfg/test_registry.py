"""The lazy registry: every public name resolves; projects add their own."""

from __future__ import annotations

import copy
import importlib
from collections.abc import Iterator

import pytest

import cfg
from cfg import registry
from cfg.exceptions import RegistryError

MARKER = object()  # a target for the registration tests


@pytest.fixture
def isolated_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(registry, "REGISTRY", copy.deepcopy(registry.REGISTRY))
    monkeypatch.setattr(registry, "_cache", {})
    yield


def every_entry() -> list[tuple[str, str, str]]:
    return [(group, name, target) for group, entries in registry.REGISTRY.items() for name, target in entries.items()]


def test_the_registry_has_the_groups_of_the_design() -> None:
    assert {"core", "services", "third_party", "modules", "exceptions"} <= set(registry.REGISTRY)
    names = [name for _, name, _ in every_entry()]
    assert len(names) == len(set(names)), "a name is registered in two groups"


@pytest.mark.parametrize(("group", "name", "target"), every_entry(), ids=[name for _, name, _ in every_entry()])
def test_every_entry_resolves_to_its_target(group: str, name: str, target: str) -> None:
    module, _, attribute = target.partition(":")
    expected = getattr(importlib.import_module(module), attribute)
    assert cfg.resolve(name) is expected
    assert getattr(cfg, name) is expected
    assert name in dir(cfg)


def test_an_unknown_name_gives_a_clear_error() -> None:
    with pytest.raises(RegistryError) as info:
        cfg.DjangoConfg  # noqa: B018
    assert str(info.value) == (
        "cfg has no attribute 'DjangoConfg'; did you mean 'DjangoConfig'? cfg.names() lists every registered name"
    )
    assert isinstance(info.value, AttributeError)
    assert not hasattr(cfg, "NoSuchThingAnywhere")
    with pytest.raises(RegistryError, match=r"^cfg has no attribute 'zzz'; cfg.names\(\) lists every registered name$"):
        cfg.resolve("zzz")


def test_dunder_lookups_are_plain_attribute_errors() -> None:
    with pytest.raises(AttributeError) as info:
        cfg.__wrapped__  # noqa: B018
    assert not isinstance(info.value, RegistryError)


@pytest.mark.usefixtures("isolated_registry")
def test_a_project_registers_and_resolves_its_own_name() -> None:
    cfg.register("MyThing", f"{__name__}:MARKER")
    assert cfg.MyThing is MARKER
    assert "MyThing" in cfg.names()
    assert registry.REGISTRY["project"]["MyThing"] == f"{__name__}:MARKER"
    cfg.register("MyThing", f"{__name__}:MARKER")  # the same registration again is harmless
    assert cfg.resolve("MyThing") is MARKER


@pytest.mark.usefixtures("isolated_registry")
def test_a_conflicting_registration_is_refused() -> None:
    with pytest.raises(RegistryError) as info:
        cfg.register("DjangoConfig", f"{__name__}:MARKER")
    assert str(info.value) == (
        "register('DjangoConfig'): already registered as 'cfg.config:DjangoConfig'; choose another name"
    )
    assert cfg.DjangoConfig is not MARKER
    cfg.register("Mine", f"{__name__}:MARKER")
    with pytest.raises(RegistryError, match="already registered"):
        cfg.register("Mine", "json:dumps")


@pytest.mark.usefixtures("isolated_registry")
@pytest.mark.parametrize(
    ("name", "target", "message"),
    [
        ("Thing", "tests.cfg.test_registry.MARKER", "target must look like 'package.module:attribute'"),
        ("Thing", ":MARKER", "target must look like 'package.module:attribute'"),
        ("not an identifier", "json:dumps", "must be a public Python identifier"),
        ("_private", "json:dumps", "must be a public Python identifier"),
        ("resolve", "json:dumps", "must be a public Python identifier, not one of cfg's own"),
    ],
)
def test_malformed_registrations_are_refused(name: str, target: str, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        cfg.register(name, target)
    assert name not in cfg.names()


@pytest.mark.usefixtures("isolated_registry")
def test_a_target_that_does_not_resolve_says_so_on_use() -> None:
    cfg.register("Ghost", "cfgtests_no_such_module:Ghost")
    cfg.register("Missing", f"{__name__}:NO_SUCH_ATTRIBUTE")
    with pytest.raises(RegistryError, match=r"^cfg.Ghost points at 'cfgtests_no_such_module:Ghost', which does not"):
        cfg.Ghost  # noqa: B018
    with pytest.raises(RegistryError, match="NO_SUCH_ATTRIBUTE"):
        cfg.resolve("Missing")
