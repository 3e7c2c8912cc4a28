"""The near-duplicate name check of the store review: typos and look-alikes are the same name, a different
word is a different name; each pair is checked both ways."""

import pytest

from store.naming import near_duplicate

SAME = [
    ("Fjord Guide", "Fjord Guides"),
    ("Fjord Guide", "fjord guide"),
    ("Fjord Guide", "FjordGuide"),
    ("Fjord Guide", "Fjord-Guide!"),
    ("Fjord Guide", "  Fjord   Guide "),
    ("Fjord Guide", "Fj0rd Gu1de"),
    ("Fjord Guide", "Fjоrd Guide"),  # Cyrillic о
    ("Fjord Guide", "Fjörd Guide"),
    ("Fjord Guide", "Fjrod Guide"),  # two letters swapped
    ("Recipe helper", "Recipie helper"),
    ("Mathematics tutor", "Mathematiks tutor"),
]
DIFFERENT = [
    ("Mike tutor pager", "Whiskey tutor pager"),
    ("German recipe helper", "Korean recipe helper"),
    ("Cat tutor", "Bat tutor"),
    ("Route 66 planner", "Route 99 planner"),
    ("Fjord Guide", "Fjord Guide Pro"),
    ("Fjord Guide", "Glacier Guide"),
    ("Spanish tutor", "Swedish tutor"),
    ("Recipe helper", "Recipe finder"),
    ("Fjord Guide", ""),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_typos_case_spacing_and_look_alikes_are_one_name(a, b):
    assert near_duplicate(a, b) and near_duplicate(b, a)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_a_different_word_is_a_different_name(a, b):
    assert not near_duplicate(a, b) and not near_duplicate(b, a)
