"""`_query.query_string`: what `urlencode` writes, less the None values, whatever the params."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from hypothesis import given
from hypothesis import strategies as st

from asyncapi_client._query import query_string

_values = st.one_of(
    st.none(), st.integers(), st.booleans(), st.floats(allow_nan=False), st.text(max_size=12)
)


@given(st.dictionaries(st.text(max_size=8), _values, max_size=5))
def test_query_string_is_urlencode_of_the_values_given(params: dict[str, Any]) -> None:
    kept = {name: value for name, value in params.items() if value is not None}
    assert query_string(params) == ("?" + urlencode(kept) if kept else "")


def test_page_and_limit_are_written_directly() -> None:
    assert query_string({"page": 3, "limit": 100}) == "?page=3&limit=100"
    assert query_string({"page": None}) == ""
    assert query_string({"a b": 1, "flag": True}) == "?a+b=1&flag=True"
