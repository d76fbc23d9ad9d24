import pytest

from billing.core.text import slug


@pytest.mark.parametrize("text,expected", [
    ("Marcq-en-Barœul", "marcq-en-baroeul"), ("Villeneuve-d'Ascq", "villeneuve-d-ascq"), ("", "sans-nom"),
    (None, "sans-nom"), ("../..", "sans-nom"), ("Æ ß", "ae-ss"), ("x" * 70, "x" * 60),
])
def test_slug_is_a_safe_file_name_piece(text, expected):
    assert slug(text) == expected
