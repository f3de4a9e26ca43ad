from __future__ import annotations

import pytest

from bff.api.validation import validate_product_id
from bff.errors import InvalidParameterError


@pytest.mark.parametrize("product_id", ["P001", "a", "0", "abc_DEF-123", "x" * 64, "A-"])
def test_accepts_ids_of_the_documented_form(product_id: str) -> None:
    assert validate_product_id(product_id) == product_id


@pytest.mark.parametrize(
    "product_id",
    [
        "",
        "-P001",
        "_P001",
        "x" * 65,
        "P001\n",
        "P 001",
        "../admin",
        "..%2Fadmin",
        "P001%00",
        "P001\x00",
        "P001\r\nX-Injected: 1",
        "\uff30001",  # fullwidth look-alike
        "P\u0430\u0431",  # Cyrillic look-alikes
        "P001?x=1",
        "P001/reviews",
    ],
)
def test_rejects_anything_else(product_id: str) -> None:
    with pytest.raises(InvalidParameterError) as raised:
        validate_product_id(product_id)
    assert "productId" in raised.value.detail
