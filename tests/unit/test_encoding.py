import random
import string
from urllib.parse import quote

import pytest

from bff.core.encoding import percent_encoded

ALPHABET = string.printable + "éß中\u00a0\U0001f600\x00\x7f"


@pytest.mark.parametrize(
    "value", ["P001", "a-b_c.d~e", "", "a/b", "a b", "%41", "..", "é", "中文", "a\nb", "id?x=1#y", "+", "~"]
)
def test_a_segment_is_encoded_exactly_as_quote_encodes_it(value: str) -> None:
    assert percent_encoded(value) == quote(value, safe="")


def test_random_segments_are_encoded_exactly_as_quote_encodes_them() -> None:
    chooser = random.Random(14)
    for _ in range(2_000):
        value = "".join(chooser.choice(ALPHABET) for _ in range(chooser.randrange(0, 12)))
        assert percent_encoded(value) == quote(value, safe=""), value
