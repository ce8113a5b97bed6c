"""Every public class, function, method and property has a docstring, and `help(AsyncClient)`
documents each of its parameters."""

from __future__ import annotations

import importlib
import inspect
import pydoc
from collections.abc import Iterator

import pytest

import asyncapi_client

PUBLIC_MODULES = [
    "asyncapi_client",
    "asyncapi_client.auth",
    "asyncapi_client.transports",
    "asyncapi_client.webhooks",
    "asyncapi_client.services",
    "asyncapi_client.integrations.fastapi",
    "asyncapi_client.integrations.otel",
    "asyncapi_client.testing",
    "asyncapi_client.types",
    "asyncapi_sandbox",
    "asyncapi_sandbox.pytest_plugin",
]


def public_objects() -> Iterator[tuple[str, object]]:
    seen: set[int] = set()
    for module_name in PUBLIC_MODULES:
        module = importlib.import_module(module_name)
        yield module_name, module
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if id(obj) in seen or not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            seen.add(id(obj))
            yield f"{module_name}.{name}", obj
            if inspect.isclass(obj):
                for attr, value in vars(obj).items():
                    if attr.startswith("_"):
                        continue
                    if isinstance(value, (property, classmethod, staticmethod)) or inspect.isfunction(value):
                        yield f"{module_name}.{name}.{attr}", getattr(obj, attr)


def test_every_public_name_is_documented() -> None:
    undocumented = []
    for name, obj in public_objects():
        target = obj.fget if isinstance(obj, property) else obj  # type: ignore[attr-defined]
        doc = inspect.getdoc(target) if not inspect.ismodule(obj) else obj.__doc__
        if not doc or not doc.strip():
            undocumented.append(name)
    assert undocumented == []


def test_help_documents_every_client_parameter() -> None:
    text = pydoc.render_doc(asyncapi_client.AsyncClient, renderer=pydoc.plaintext)
    parameters = [p for p in inspect.signature(asyncapi_client.AsyncClient).parameters if p != "self"]
    assert len(parameters) >= 12
    missing = [p for p in parameters if f"- `{p}`" not in text]
    assert missing == []
    options = [p for p in inspect.signature(asyncapi_client.AsyncClient.with_options).parameters if p != "self"]
    doc = inspect.getdoc(asyncapi_client.AsyncClient.with_options) or ""
    assert [p for p in options if f"- `{p}`" not in doc] == []


@pytest.mark.parametrize(
    "name", ["ASYNCAPI_BASE_URL", "ASYNCAPI_CLIENT_ID", "ASYNCAPI_CLIENT_SECRET", "ASYNCAPI_ACCESS_TOKEN", "ASYNCAPI_LOG"]
)
def test_help_names_the_environment(name: str) -> None:
    assert name in (asyncapi_client.AsyncClient.__doc__ or "")
