"""The public surface: what `corocrawl` and `corocrawl.testing` export, and how it is built."""

from __future__ import annotations

import importlib.resources
import inspect
from types import ModuleType

import aiohttp.http_parser
import pytest

import corocrawl
import corocrawl.testing


def public_definitions(module: ModuleType) -> set[str]:
    """Public classes and functions on `module` that corocrawl itself defines."""
    names = set()
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        if not (inspect.isclass(value) or inspect.isfunction(value)):
            continue
        if getattr(value, "__module__", "").split(".")[0] == "corocrawl":
            names.add(name)
    return names


def isort_style_key(name: str) -> tuple[int, str]:
    """Ruff's RUF022 order: SCREAMING_CASE, then CamelCase, then the rest, each sorted."""
    if name.isupper() and len(name) > 1:
        return (0, name)
    if name[:1].isupper():
        return (1, name)
    return (2, name)


def test_all_is_in_ruffs_isort_style_order() -> None:
    assert corocrawl.__all__ == sorted(corocrawl.__all__, key=isort_style_key)


def test_all_has_no_duplicates() -> None:
    assert len(corocrawl.__all__) == len(set(corocrawl.__all__))


def test_every_name_in_all_exists() -> None:
    missing = [name for name in corocrawl.__all__ if not hasattr(corocrawl, name)]
    assert missing == []


def test_every_public_class_and_function_is_in_all() -> None:
    assert public_definitions(corocrawl) - set(corocrawl.__all__) == set()


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from corocrawl import *", namespace)
    namespace.pop("__builtins__")
    assert set(namespace) == set(corocrawl.__all__)


def test_version_is_a_string() -> None:
    assert isinstance(corocrawl.__version__, str)
    assert corocrawl.__version__.count(".") >= 1


def exported_exceptions() -> list[type[BaseException]]:
    values = [getattr(corocrawl, name) for name in corocrawl.__all__]
    return [v for v in values if inspect.isclass(v) and issubclass(v, BaseException)]


def test_all_exports_the_whole_error_tree() -> None:
    names = {error.__name__ for error in exported_exceptions()}
    assert {"CorocrawlError", "ConfigError", "FetchError", "FetchTimeout", "SinkError"} <= names
    from corocrawl import _exceptions

    assert names == set(_exceptions.__all__)  # every error of the tree, drawn in its docstring


@pytest.mark.parametrize("error", exported_exceptions(), ids=lambda error: error.__name__)
def test_every_exported_exception_derives_from_corocrawl_error(
    error: type[BaseException],
) -> None:
    assert issubclass(error, corocrawl.CorocrawlError)


@pytest.mark.parametrize(
    ("error", "stdlib"),
    [
        (corocrawl.ConfigError, ValueError),
        (corocrawl.FetchTimeout, TimeoutError),
        (corocrawl.ConnectTimeout, TimeoutError),
        (corocrawl.ReadTimeout, TimeoutError),
        (corocrawl.BlockedURL, ValueError),
    ],
)
def test_errors_also_subclass_the_matching_stdlib_type(
    error: type[Exception], stdlib: type[Exception]
) -> None:
    assert issubclass(error, stdlib)


def test_fetch_errors_carry_their_url() -> None:
    error = corocrawl.ReadError("reset", url="http://a.example/")
    assert error.url == "http://a.example/"
    assert isinstance(error, corocrawl.NetworkError)
    assert isinstance(error, corocrawl.FetchError)


def test_worker_error_shows_the_remote_traceback() -> None:
    error = corocrawl.WorkerError("worker died", worker_id=3, remote_traceback="Traceback...")
    assert error.worker_id == 3
    assert "worker died" in str(error)
    assert "Traceback in worker 3:\nTraceback..." in str(error)
    assert str(corocrawl.WorkerError("plain", worker_id=1)) == "plain"


def test_testing_all_is_sorted_without_duplicates() -> None:
    assert corocrawl.testing.__all__ == sorted(corocrawl.testing.__all__)
    assert len(corocrawl.testing.__all__) == len(set(corocrawl.testing.__all__))


def test_testing_all_is_complete_and_exists() -> None:
    testing = corocrawl.testing
    assert [name for name in testing.__all__ if not hasattr(testing, name)] == []
    assert public_definitions(testing) - set(testing.__all__) == set()


def test_package_ships_py_typed() -> None:
    marker = importlib.resources.files("corocrawl").joinpath("py.typed")
    assert marker.is_file()


def test_aiohttp_uses_its_c_http_parser() -> None:
    parser = aiohttp.http_parser.HttpResponseParser
    assert parser is aiohttp.http_parser.HttpResponseParserC
    assert parser.__module__ == "aiohttp._http_parser"
