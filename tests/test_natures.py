from billing.core.natures import CREDITS, DEBITS, NATURES, nature_label, signed


def test_credits_take_off_and_debits_add():
    assert [signed(n, 150) for n in ("titre", "complementaire", "reduction", "annulation")] == [150, 150, -150, -150]
    assert set(DEBITS) | set(CREDITS) == set(NATURES) and not set(DEBITS) & set(CREDITS)


def test_labels_are_french_and_can_open_a_sentence():
    assert nature_label("complementaire") == "titre complémentaire"
    assert nature_label("complementaire", capitalized=True) == "Titre complémentaire"
    assert nature_label("reduction") == "réduction"
    assert nature_label("inconnue") == "inconnue"
