"""The commands as an officer runs them, on copies of the bundled sample; outputs read back."""

from __future__ import annotations

import csv
import json
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from billing.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def work(tmp_path):
    shutil.copytree(ROOT / "inputs", tmp_path / "inputs")
    return tmp_path


def run(work: Path, *args: str):
    runner = CliRunner()
    return runner.invoke(main, ["--inputs", str(work / "inputs"), "--out", str(work / "out"),
                                "--ledger", str(work / "ent-bill.duckdb"), *args], catch_exceptions=False)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8-sig")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_every_command_has_help_with_an_example():
    runner = CliRunner()
    for name, command in main.commands.items():
        result = runner.invoke(main, [name, "--help"])
        assert result.exit_code == 0, name
        assert "Exemple :" in result.output, name
        assert not {"Example", "COMMAND", "ARGS", "DIRECTORY"} & set(re.findall(r"\w+", result.output)), name
    top = runner.invoke(main, ["--help"]).output  # no English left in the usage line either
    assert "COMMANDE [ARGUMENTS]..." in top and "Exemple :" in top and "COMMAND " not in top


def test_validate_bundled_sample_shows_warnings_and_exits_0(work):
    result = run(work, "--verbose", "validate", "2024")
    assert result.exit_code == 0
    assert "Données 2024 valides : 91 communes membres" in result.stdout
    assert "« Saily-lez-Lannoy » : ne correspond pas au code 59522 (« Sailly-lez-Lannoy ») ; le code est retenu." \
        in result.stderr


def test_warnings_of_one_column_are_summarised_once_unless_verbose(work):
    result = run(work, "validate", "2024")
    assert result.exit_code == 0
    lines = [line for line in result.stderr.splitlines() if line.startswith("  ! ")]
    assert len(lines) == 3, lines  # 8 name warnings in one line, and the two about counts
    assert "inputs/adhesions.csv, colonne « commune » : 8 avertissements (lignes 15, 18, 54, 57, 63, 70, 73, 84)" \
        in lines[0]
    assert "Saily-lez-Lannoy" not in result.stderr
    assert result.stderr.count("Chérengh") == 1


def test_quiet_hides_warnings_never_the_answer(work):
    result = run(work, "--quiet", "explain", "2024", "Lys-lez-Lannoy")
    assert result.exit_code == 0
    assert "Montant dû : 1\u202f730,66\xa0€" in result.stdout and result.stderr == ""
    planned = run(work, "issue", "2024", "--dry-run", "--quiet")  # a global option after the command, too
    assert planned.exit_code == 0, planned.output
    assert "Total : 70 pièce(s) à émettre, net 106\u202f196,40\xa0€" in planned.stdout and planned.stderr == ""


def test_usage_errors_exit_2_in_french(work):
    for args in (["compute", "24"], ["compute", "2024", "--nope"], ["nope"]):
        result = run(work, *args)
        assert result.exit_code == 2, args
        assert "Utilisation :" in result.output and "Erreur :" in result.output, result.output
        assert "Usage" not in result.output and "Error:" not in result.output
    help_text = run(work, "--help").output
    assert "Afficher cette aide et quitter." in help_text and "Show this message" not in help_text


def test_a_name_beside_its_code_warns_only_for_what_an_officer_should_fix(work):
    adhesions = work / "inputs" / "adhesions.csv"
    edit(adhesions, "59368;La Madeleine;", "59368;Madeleine (La);")  # the article after the name
    edit(adhesions, "Villeneuve d'Ascq", "VILLENEUVE D’ASCQ")  # case and apostrophe glyph, but the hyphen
    result = run(work, "--verbose", "validate", "2024")
    assert result.exit_code == 0
    assert "Madeleine (La)" not in result.stderr
    assert "« VILLENEUVE D’ASCQ » : orthographe officielle : « Villeneuve-d'Ascq »" in result.stderr
    assert "« Deulemont » : orthographe officielle : « Deûlémont »" in result.stderr


def test_compute_writes_everything_and_totals_agree(work):
    result = run(work, "compute", "2024")
    assert result.exit_code == 0, result.stderr
    out = work / "out"
    rows = list(csv.DictReader((out / "contributions_2024.csv").open(encoding="utf-8")))
    assert len(rows) == 91
    lys = next(r for r in rows if r["code_insee"] == "59367")
    assert (lys["ecoles"], lys["eleves"], lys["facteur_prorata"], lys["montant"]) == ("5", "1100", "306/366", "1730.66")
    total = sum(Decimal(r["montant"]) for r in rows)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert Decimal(manifest["totaux"]["montant_total"]) == total
    notices = sorted((out / "avis").glob("PROJET_*.xlsx"))
    assert len(notices) == sum(1 for r in rows if r["situation"] == "facturee")
    sheet = load_workbook(out / "avis" / "PROJET_59367_lys-lez-lannoy.xlsx").active
    texts = [str(c.value) for row in sheet.iter_rows() for c in row if c.value is not None]
    assert any("PROJET" in t for t in texts)
    assert any("mille sept cent trente euros et soixante-six centimes" in t for t in texts)
    first = (out / "contributions_2024.csv").read_bytes()
    assert run(work, "compute", "2024").exit_code == 0
    assert (out / "contributions_2024.csv").read_bytes() == first  # re-running is byte-identical


def test_bad_input_is_reported_all_at_once_and_nothing_is_written(work):
    adhesions = work / "inputs" / "adhesions.csv"
    edit(adhesions, "59367;Lys-lez-Lannoy;adherente;01/03/2024", "59367;Lys-lez-Lannoy;adherente;31/02/2024")
    text = adhesions.read_text(encoding="utf-8")
    adhesions.write_text(text + ";Saily-les-Lanoy;adherente;01/03/2024;;;;;;\n", encoding="utf-8")
    result = run(work, "compute", "2024")
    assert result.exit_code == 1
    assert "aucun fichier n'a été écrit" in result.stderr
    assert "colonne « date_effet » : « 31/02/2024 » : date impossible" in result.stderr
    assert "Vouliez-vous dire « Sailly-lez-Lannoy » (59522) ?" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (work / "out").exists()


@pytest.mark.parametrize("content,expected", [
    (b"", "vide"),
    (b"%PDF-1.4 binary \x00\x01\x02", None),
    (b"code_insee|commune|statut\n59350|Lille|adherente\n", "séparateur"),
])
def test_unreadable_register_files(work, content, expected):
    (work / "inputs" / "adhesions.csv").write_bytes(content)
    result = run(work, "validate", "2024")
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr
    assert "adhesions.csv" in result.stderr
    if expected:
        assert expected in result.stderr


def test_missing_tariff_year(work):
    result = run(work, "validate", "2026")
    assert result.exit_code == 1
    assert "aucun tarif pour 2026" in result.stderr


def test_usage_error_exits_2(work):
    assert run(work, "compute", "deux-mille").exit_code == 2


def test_issue_twice_then_corrections_and_verify(work):
    first = run(work, "issue", "2024")
    assert first.exit_code == 0, first.stderr
    assert "ENT-2024-0070" in first.stdout
    again = run(work, "issue", "2024")
    assert "Rien à émettre" in again.stdout
    edit(work / "inputs" / "adhesions.csv", "59013;Anstaing;adherente;01/03/2024;",
         "59013;Anstaing;retiree;01/03/2024;01/06/2024")
    drafted = run(work, "compute", "2024")
    assert "Écarts avec les titres déjà émis (1)" in drafted.stdout
    assert "59013 Anstaing" in drafted.stdout
    corrected = run(work, "issue", "2024")
    assert "ENT-2024-0071    réduction" in corrected.stdout
    assert (work / "out" / "avis" / "ENT-2024-0071_59013_anstaing.xlsx").exists()
    assert run(work, "verify").exit_code == 0
    with open(work / "out" / "titres_2024.csv", encoding="utf-8") as stream:
        numbers = [row["numero"] for row in csv.DictReader(stream)]
    assert numbers == [f"ENT-2024-{n:04d}" for n in range(1, 72)]
    import duckdb

    con = duckdb.connect(str(work / "ent-bill.duckdb"))
    con.execute("DELETE FROM titres WHERE numero = 'ENT-2024-0010'")
    con.close()
    tampered = run(work, "verify")
    assert tampered.exit_code == 1
    assert "ENT-2024-0010" in tampered.stderr


def test_killed_issue_is_completed_by_rerun_without_new_numbers(work):
    assert run(work, "issue", "2024").exit_code == 0
    avis = work / "out" / "avis"
    lost = sorted(avis.glob("ENT-2024-00[1-3]*.xlsx"))
    for path in lost:  # as if the process died after the commit, before rendering these
        path.unlink()
    result = run(work, "issue", "2024")
    assert "Rien à émettre" in result.stdout
    assert all(path.exists() for path in lost)


def test_explain_and_simulate_json(work):
    result = run(work, "explain", "2024", "Lys-lez-Lannoy")
    assert result.exit_code == 0
    assert "Montant dû : 1\u202f730,66\u00a0€" in result.stdout
    unknown = run(work, "explain", "2024", "Saily-lez-Lannoy")
    assert unknown.exit_code == 1 and "Sailly-lez-Lannoy" in unknown.stderr
    simulated = run(work, "--json", "simulate", "2024", "--set", "part_eleve=1.20")
    payload = json.loads(simulated.stdout)
    assert payload["total"] == payload["total_actuel"]
    solved = json.loads(run(work, "--json", "simulate", "2024", "--cible", "120000").stdout)
    assert Decimal(solved["total"]) <= Decimal("120000") < Decimal(solved["total_pas_suivant"])


def test_reconcile_balances(work):
    assert run(work, "issue", "2024").exit_code == 0
    result = run(work, "--json", "reconcile", "2024")
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    emis, reduit, paye = (Decimal(payload[k]) for k in ("emis", "reduit", "paye"))
    reste, trop = Decimal(payload["reste"]), Decimal(payload["trop_percu"])
    assert emis - reduit == paye + reste - trop


def test_init_refuses_to_overwrite(tmp_path):
    runner = CliRunner()
    target = tmp_path / "donnees"
    assert runner.invoke(main, ["init", str(target)]).exit_code == 0
    assert (target / "tarifs.toml").exists()
    again = runner.invoke(main, ["init", str(target)])
    assert again.exit_code == 1 and "existe déjà" in again.stderr


def test_rule_across_columns_points_at_its_column(work):
    edit(work / "inputs" / "adhesions.csv", "59367;Lys-lez-Lannoy;adherente;01/03/2024;",
         "59367;Lys-lez-Lannoy;retiree;01/03/2024;01/02/2024")
    result = run(work, "validate", "2024")
    assert result.exit_code == 1
    assert ("colonne « date_retrait » : « 01/02/2024 » : la date de retrait (premier jour où la commune n'est plus "
            "membre) doit être postérieure à la date d'effet de la même ligne") in result.stderr


def test_an_empreinte_kept_from_the_bordereau_catches_a_rewritten_ledger(work):
    issued = run(work, "issue", "2024")
    assert issued.exit_code == 0, issued.stderr
    sheet = load_workbook(work / "out" / "bordereau_2024.xlsx").active
    anchors = [c.value for c in sheet["A"] if isinstance(c.value, str) and c.value.startswith("ENT-2024-0070:")]
    assert len(anchors) == 1 and len(anchors[0].split(":")[1]) == 64
    anchor = anchors[0]
    assert anchor in issued.stdout
    kept = run(work, "verify", "--empreinte", anchor)
    assert kept.exit_code == 0, kept.stderr
    assert "1 empreinte(s) de bordereau retrouvée(s)" in kept.stdout and anchor in kept.stdout
    # A forger rebuilds the whole ledger with one amount changed: its own chain is consistent ...
    (work / "ent-bill.duckdb").unlink()
    edit(work / "inputs" / "adhesions.csv", "59013;Anstaing;adherente;01/03/2024;",
         "59013;Anstaing;adherente;01/04/2024;")
    assert run(work, "issue", "2024").exit_code == 0
    assert run(work, "verify").exit_code == 0
    # ... but not with what the bordereau kept.
    caught = run(work, "verify", "--empreinte", anchor)
    assert caught.exit_code == 1
    assert "vérifiez d'abord la saisie" in caught.stderr and "le registre a été réécrit" in caught.stderr
    # A typing mistake in its form is a usage error, not a sign of fraud.
    unreadable = run(work, "verify", "--empreinte", "ENT-2024-0070:pas-une-empreinte")
    assert unreadable.exit_code == 2 and "pas au bon format" in unreadable.output
    assert "altéré" not in unreadable.output and "Traceback" not in unreadable.output


def test_drafts_after_issue_are_the_corrections_issue_would_make(work):
    assert run(work, "issue", "2024").exit_code == 0
    again = run(work, "compute", "2024")
    assert again.exit_code == 0
    assert "Rien à corriger : le registre des titres 2024 correspond au calcul." in again.stdout
    assert not list((work / "out" / "avis").glob("PROJET*.xlsx"))
    edit(work / "inputs" / "adhesions.csv", "59013;Anstaing;adherente;01/03/2024;;",
         "59013;Anstaing;retiree;01/03/2024;01/09/2024;")
    changed = run(work, "compute", "2024")
    assert changed.exit_code == 0
    drafts = sorted(p.name for p in (work / "out" / "avis").glob("PROJET*.xlsx"))
    assert len(drafts) == 1 and drafts[0].startswith("PROJET-reduction-ENT-2024-") and "_59013_anstaing" in drafts[0]
    assert "Projets de corrections   : 1" in changed.stdout
    assert run(work, "issue", "2024").exit_code == 0
    assert not list((work / "out" / "avis").glob("PROJET*.xlsx"))  # replaced by the issued réduction


def test_explain_suggests_members_first_and_simulations_keep_their_own_files(work):
    lys = run(work, "explain", "2024", "Lys")
    assert lys.exit_code == 1
    assert "Communes membres proches : « Erquinghem-Lys » (59202), « Lys-lez-Lannoy » (59367)." in lys.stderr
    first = run(work, "simulate", "2024", "--set", "part_eleve=1.35")
    second = run(work, "simulate", "2024", "--set", "part_eleve=1.40")
    assert first.exit_code == second.exit_code == 0
    names = sorted(p.name for p in (work / "out").glob("simulation_*.xlsx"))
    assert names == ["simulation_2024_part-eleve-1-35.xlsx", "simulation_2024_part-eleve-1-40.xlsx"]
    assert "Plus grands écarts des communes facturées" in first.stdout


def test_an_annulation_keeps_the_siret_the_ledger_recorded_even_without_the_old_reports(work):
    """What was issued comes from the ledger: the reports folder may be gone, the commune may have left."""
    import shutil

    from openpyxl import load_workbook

    assert run(work, "issue", "2024").exit_code == 0
    adhesions = work / "inputs" / "adhesions.csv"
    line = next(l for l in adhesions.read_text(encoding="utf-8-sig").splitlines() if l.startswith("59106;"))
    siret = line.split(";")[8]
    assert len(siret) == 14
    edit(adhesions, line + "\n", "")
    shutil.rmtree(work / "out")  # the titres CSV written at the first issue is gone too
    assert run(work, "issue", "2024").exit_code == 0
    (notice,) = [p for p in (work / "out" / "avis").glob("ENT-2024-*_59106_*.xlsx")
                 if "annul" in " ".join(str(c.value) for row in load_workbook(p).active.iter_rows() for c in row
                                        if isinstance(c.value, str)).lower()]
    texts = " ".join(str(c.value) for row in load_workbook(notice).active.iter_rows() for c in row if c.value)
    assert siret in texts.replace(" ", "") and "non communiqué" not in texts


@pytest.mark.parametrize("cible, message", [("abc", "« abc » n'est pas un nombre"),
                                            ("-5", "la cible doit être un montant positif")])
def test_a_bad_cible_is_a_usage_error_as_a_bad_set_is(work, cible, message):
    """README: usage mistakes exit 2. « --cible abc » exited 1, as if the data were wrong."""
    result = run(work, "simulate", "2024", "--cible", cible)
    assert result.exit_code == 2, result.output
    assert f"--cible : {message}" in result.output and "Traceback" not in result.output
    assert not (work / "out").exists() or not list((work / "out").rglob("simulation_*"))


def test_sauvegarde_groups_the_digits_of_its_size(work):
    """« 6041600 octets » is hard to read; every other count is printed « 6 041 600 »."""
    assert run(work, "--quiet", "issue", "2024").exit_code == 0
    result = run(work, "sauvegarde", str(work / "copie.duckdb"))
    assert result.exit_code == 0, result.output
    size = (work / "copie.duckdb").stat().st_size
    grouped = f"{size:,}".replace(",", " ")
    assert re.sub(r"[\u202f\u00a0]", " ", result.output).count(f"{grouped} octets") == 1, result.output


def test_quiet_and_verbose_have_the_short_forms_a_new_user_types(work):
    """« ent-bill -q compute 2024 » was refused (« Option inconnue : '-q' »), before or after the command."""
    for args in (("-q", "validate", "2024"), ("validate", "2024", "-q")):
        result = run(work, *args)
        assert result.exit_code == 0, result.output
        assert "Avertissements" not in result.output
    verbose = run(work, "validate", "2024", "-v")
    assert verbose.exit_code == 0 and "« Saily-lez-Lannoy »" in verbose.output


def test_titres_dated_outside_their_exercice_are_refused_unless_confirmed(work):
    """Without date_emission the titres carry the clock's date: 2024 titres issued in 2026 need a confirmation."""
    from datetime import date

    from billing.documents import next_working_day

    tarifs = work / "inputs" / "tarifs.toml"
    edit(tarifs, "date_emission = 2024-04-15", "# date_emission = 2024-04-15")
    computed = run(work, "compute", "2024")
    assert computed.exit_code == 0 and "hors de l'exercice" in computed.stdout
    refused = run(work, "issue", "2024")
    if date.today().year != 2024:
        assert refused.exit_code == 1 and "émission refusée" in refused.output and "--hors-exercice" in refused.output
        assert not (work / "ent-bill.duckdb").exists()
        assert run(work, "issue", "2024", "--hors-exercice").exit_code == 0
    # a due date on a public holiday or a weekend moves to the next working day
    assert next_working_day(date(2027, 1, 1)) == date(2027, 1, 4)   # New Year's Day, then a weekend
    assert next_working_day(date(2024, 5, 15)) == date(2024, 5, 15)  # an ordinary Wednesday
    assert next_working_day(date(2025, 4, 21)) == date(2025, 4, 22)  # Easter Monday


def test_reports_go_beside_the_inputs_folder_wherever_the_command_runs(tmp_path, monkeypatch):
    inputs = tmp_path / "donnees" / "inputs"
    assert CliRunner().invoke(main, ["init", str(inputs)]).exit_code == 0
    elsewhere = tmp_path / "ailleurs"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = CliRunner().invoke(main, ["--inputs", str(inputs), "compute", "2024"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "donnees" / "reports" / "2024" / "contributions_2024.csv").exists()
    assert not any(elsewhere.iterdir())


def test_a_later_correction_can_carry_its_own_date(work):
    """The tariff's date_emission dates the year's titres; a correction issued later is dated with --date."""
    assert run(work, "issue", "2024").exit_code == 0
    edit(work / "inputs" / "adhesions.csv", "59013;Anstaing;adherente;01/03/2024;;",
         "59013;Anstaing;retiree;01/03/2024;01/09/2024;")
    bad = run(work, "issue", "2024", "--date", "31/09/2024")
    assert bad.exit_code == 2 and "n'est pas une date" in bad.output
    result = run(work, "issue", "2024", "--date", "01/10/2024")
    assert result.exit_code == 0, result.output
    listed = run(work, "titres", "2024").stdout
    assert "ENT-2024-0071    01/10/2024 réduction" in listed


def test_an_unreadable_date_is_reported_once_and_a_missing_one_still_is(work):
    """The « obligatoire » rule on a cell that could not be read is its echo (Code.MISSING), not a second error."""
    adhesions = work / "inputs" / "adhesions.csv"
    edit(adhesions, "59367;Lys-lez-Lannoy;adherente;01/03/2024;", "59367;Lys-lez-Lannoy;adherente;31/02/2024;")
    edit(adhesions, "59013;Anstaing;adherente;01/03/2024;", "59013;Anstaing;adherente;;")
    result = run(work, "validate", "2024")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("  ✗")]
    assert len(errors) == 2, errors
    assert any("« 31/02/2024 » : date impossible" in line for line in errors)
    assert any("obligatoire" in line and "31/02/2024" not in line for line in errors)
