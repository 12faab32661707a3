"""The Python surface itself: exception shape, argument types, docs, packaging."""

from __future__ import annotations

import doctest
import pickle

import pytest

import handrail
from handrail import HandrailError


def test_error_is_value_error_with_code_and_message() -> None:
    assert issubclass(HandrailError, ValueError)
    with pytest.raises(ValueError) as info:
        handrail.canonicalize('{"a":1,"a":2}')
    err = info.value
    assert isinstance(err, HandrailError)
    assert err.code == "duplicate_key"
    assert "duplicate key" in str(err)
    assert err.args == (str(err),)


def test_error_survives_pickling() -> None:
    with pytest.raises(HandrailError) as info:
        handrail.canonicalize("[1,]")
    clone = pickle.loads(pickle.dumps(info.value))
    assert type(clone) is HandrailError
    assert clone.code == "json_syntax"
    assert str(clone) == str(info.value)


def test_error_is_exported_under_public_name() -> None:
    assert HandrailError is handrail._core.HandrailError
    assert HandrailError.__module__ == "handrail"
    assert HandrailError.__qualname__ == "HandrailError"


@pytest.mark.parametrize("bad", [None, 1, 1.5, bytearray(b"1"), memoryview(b"1"), ["1"]])
def test_rejects_non_text_with_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="expected str or bytes"):
        handrail.canonicalize(bad)  # type: ignore[arg-type]


def test_str_with_lone_surrogate_is_a_value_error() -> None:
    # A Python str can hold a lone surrogate, which no UTF-8 text can carry.
    with pytest.raises(UnicodeEncodeError):
        handrail.canonicalize('"\ud800"')


def test_keyword_argument() -> None:
    assert handrail.canonicalize(data="[1.0]") == "[1]"


def test_large_input_releases_gil_and_still_works() -> None:
    # Above the size where the binding releases the GIL (64 KiB).
    items = ",".join(f'"k{i:06}":{i}' for i in range(20_000, 0, -1))
    text = "{" + items + "}"
    assert len(text) > 64 * 1024
    out = handrail.canonicalize(text)
    assert out.startswith('{"k000001":1,"k000002":2,')
    assert handrail.canonicalize(text.encode()) == out


def test_docstring_examples() -> None:
    doc = handrail.canonicalize.__doc__
    assert doc
    test = doctest.DocTestParser().get_doctest(
        doc, {"canonicalize": handrail.canonicalize}, "canonicalize", None, 0
    )
    assert test.examples, "canonicalize docstring lost its examples"
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_version_matches_distribution() -> None:
    from importlib.metadata import version

    assert handrail.__version__ == version("handrail")


def test_typed_package() -> None:
    from importlib.resources import files

    pkg = files("handrail")
    assert pkg.joinpath("py.typed").is_file()
    assert pkg.joinpath("_core.pyi").is_file()
