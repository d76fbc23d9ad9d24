"""Command line: parse, call one library function, print. No logic lives here.

Exit codes: 0 success, 1 invalid data (the report says why), 2 usage error.
Heavy modules are imported inside the commands so ``ent-bill --help`` starts fast.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from billing import __version__
from billing.cli_text import install as _french_click

_french_click()  # before any decorator builds a help text

EXIT_DATA = 1
GLOBAL_FLAGS = ("--quiet", "-q", "--json", "--verbose", "-v")
GLOBAL_VALUES = ("--inputs", "--out", "--ledger")


class GlobalOptionsFirst(click.Group):
    """Accept a global option typed after the command (« compute 2024 --json ») by moving it before.

    No command has an option of the same name, so moving one never changes what a command receives.
    """

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        at, i = None, 0
        while i < len(args):  # the command is the first word that is not a global option or its value
            if args[i] in GLOBAL_VALUES:
                i += 2
                continue
            if args[i] in self.commands:
                at = i
                break
            i += 1
        if at is None:
            return super().parse_args(ctx, args)
        moved, kept, i = [], [], at + 1
        while i < len(args):
            arg = args[i]
            if arg == "--":
                kept += args[i:]
                break
            if arg in GLOBAL_FLAGS or arg.split("=", 1)[0] in GLOBAL_VALUES and "=" in arg:
                moved.append(arg)
            elif arg in GLOBAL_VALUES and i + 1 < len(args):
                moved += args[i:i + 2]
                i += 1
            else:
                kept.append(arg)
            i += 1
        return super().parse_args(ctx, [*args[:at], *moved, args[at], *kept])


@dataclass(frozen=True)
class Context:
    inputs: Path
    out: Path | None
    ledger: Path | None
    quiet: bool
    as_json: bool
    verbose: bool = False

    def out_dir(self, annee: int) -> Path:
        """--out, else reports/ANNEE/ beside the inputs folder (where the ledger is), wherever the officer runs from."""
        return self.out if self.out is not None else self.inputs.parent / "reports" / str(annee)

    def ledger_path(self) -> Path:
        return self.ledger if self.ledger is not None else self.inputs.resolve().parent / "ent-bill.duckdb"


def say(ctx: Context, text: str = "") -> None:
    """The answer asked for, on stdout (unless --json, which prints it as JSON). --quiet never hides it."""
    if not ctx.as_json:
        click.echo(text)


def note(ctx: Context, text: str = "") -> None:
    """What accompanies an answer (where files went, what to do next): hidden by --quiet."""
    if not ctx.quiet and not ctx.as_json:
        click.echo(text)


def warn(ctx: Context, text: str) -> None:
    if not ctx.quiet and not ctx.as_json:
        click.echo(text, err=True)


def emit_json(ctx: Context, payload: dict) -> None:
    if ctx.as_json:
        click.echo(json.dumps(payload, ensure_ascii=False, indent=2, default=str))


def fail_with_problems(ctx: Context, exc) -> None:
    """Print every problem (errors first, then warnings) on stderr and exit 1."""
    from billing.core.problems import render_list

    errors, warnings = exc.errors, exc.warnings
    if ctx.as_json:
        click.echo(json.dumps({"ok": False, "erreurs": [p.as_dict() for p in errors],
                               "avertissements": [p.as_dict() for p in warnings]}, ensure_ascii=False, indent=2))
    click.echo(f"Erreur : {len(errors)} problème(s) bloquant(s) dans les données ; aucun fichier n'a été écrit.",
               err=True)
    for line in render_list(errors):
        click.echo(f"  ✗ {line}", err=True)
    show_warnings(ctx, warnings)
    sys.exit(EXIT_DATA)


def show_warnings(ctx: Context, warnings, *, limit: int = 30) -> None:
    """Each warning once; a group of the same kind in one column summarised in one line unless --verbose."""
    from billing.core.problems import render_list, summarise

    if not warnings or ctx.quiet or ctx.as_json:
        return
    click.echo(f"Avertissements ({len(warnings)}) :", err=True)
    lines = render_list(warnings, limit=limit) if ctx.verbose else summarise(warnings, limit=limit)
    for line in lines:
        click.echo(f"  ! {line}", err=True)


def run_guarded(ctx: Context, action, *, usage_sources: tuple[str, ...] = ()):
    """Turn the one error type into messages and exit 1; anything else is a bug and keeps its traceback.

    Problems that all come from the command line itself (``usage_sources``, e.g. « --set ») are
    usage errors: click prints them and exits 2.
    """
    from billing.core.problems import BillingError

    try:
        return action()
    except BillingError as exc:
        if usage_sources and all(p.file in usage_sources for p in exc.errors):
            raise click.UsageError("\n".join(p.render() for p in exc.errors)) from None
        if not exc.is_single:
            fail_with_problems(ctx, exc)
        message = exc.errors[0].render()
        if ctx.as_json:
            click.echo(json.dumps({"ok": False, "erreur": message, "code": str(exc.errors[0].code)},
                                  ensure_ascii=False))
        click.echo(f"Erreur : {message}", err=True)
        sys.exit(EXIT_DATA)


def parse_year(value: str) -> int:
    try:
        year = int(value)
    except ValueError:
        raise click.BadParameter(f"« {value} » n'est pas une année (ex. 2024)") from None
    if not 1990 <= year <= 2100:
        raise click.BadParameter(f"{year} n'est pas une année d'exercice plausible")
    return year


class YearType(click.ParamType):
    name = "ANNEE"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        try:
            return parse_year(value)
        except click.BadParameter as exc:
            self.fail(exc.message, param, ctx)


YEAR = YearType()


class FrenchDate(click.ParamType):
    """« 01/10/2024 » (or ISO « 2024-10-01 »)."""

    name = "JJ/MM/AAAA"

    def convert(self, value, param, ctx):
        from datetime import date, datetime

        if isinstance(value, date):
            return value
        for pattern in ("%d/%m/%Y", "%Y-%m-%d"):
            try:
                return datetime.strptime(value.strip(), pattern).date()
            except ValueError:
                continue
        self.fail(f"« {value} » n'est pas une date JJ/MM/AAAA (ex. 01/10/2024)", param, ctx)


FRENCH_DATE = FrenchDate()


def _path_not_empty(click_ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """--inputs "$UNSET" would silently read (and --ledger write) the current folder: a usage mistake."""
    if value is not None and not value.strip():
        raise click.BadParameter("chemin vide (une variable non définie ?) : indiquez un chemin", param=param)
    return None if value is None else Path(value)


@click.group(cls=GlobalOptionsFirst, context_settings={"help_option_names": ["-h", "--help"]},
             subcommand_metavar="COMMANDE [ARGUMENTS]...")
@click.option("--inputs", "inputs", type=click.Path(), default="inputs", show_default=True,
              callback=_path_not_empty, help="Dossier des données d'entrée.")
@click.option("--out", "out", type=click.Path(), default=None,  # text kept: "" is refused, not "."
              help="Dossier où écrire (par défaut reports/ANNEE/ à côté du dossier des données).")
@click.option("--ledger", "ledger", type=click.Path(), default=None, callback=_path_not_empty,
              help="Registre des titres (par défaut ent-bill.duckdb à côté du dossier des données).")
@click.option("--quiet", "-q", is_flag=True, help="Taire la progression et les avertissements (jamais le résultat demandé).")
@click.option("--verbose", "-v", is_flag=True, help="Détailler chaque avertissement au lieu de les regrouper.")
@click.option("--json", "as_json", is_flag=True, help="Afficher un objet JSON sur la sortie standard.")
@click.version_option(__version__, prog_name="ent-bill", message="%(prog)s %(version)s")
@click.pass_context
def main(click_ctx: click.Context, inputs: Path, out: str | None, ledger: Path | None, quiet: bool,
         verbose: bool, as_json: bool) -> None:
    """Contributions annuelles des communes membres au service ENT.

    Lit adhesions, effectifs et tarifs, calcule chaque contribution au centime près,
    écrit les avis des sommes à payer et les tableaux dans reports/ANNEE/.

    Exemple :

        ent-bill compute 2024
    """
    if out is not None and not out.strip():  # --out "$UNSET" must not write into the current folder
        from billing.render.outdir import ensure_output_dir

        run_guarded(Context(inputs, None, ledger, quiet, as_json), lambda: ensure_output_dir(out, inputs))
    click_ctx.obj = Context(inputs, Path(out) if out is not None else None, ledger, quiet, as_json, verbose)


@main.command()
@click.argument("directory", type=click.Path(path_type=Path), default=Path("inputs"), metavar="[DOSSIER]")
@click.option("--exemple", type=click.Choice(["mel", "habitants", "carte"]), default="mel", show_default=True,
              help="mel : écoles et élèves (Métropole européenne de Lille) ; habitants : tarif par population, "
                   "strates, groupe, seuil de recouvrement, membre fiscalisé ; carte : trois compétences, une "
                   "intercommunalité qui paie pour ses communes.")
@click.pass_obj
def init(ctx: Context, directory: Path, exemple: str) -> None:
    """Créer un dossier de données d'exemple complet, prêt à calculer.

    Exemple :

        ent-bill init mes-donnees && ent-bill --inputs mes-donnees compute 2024
    """
    from billing.sample import write_sample

    run_guarded(ctx, lambda: write_sample(directory, exemple))
    year = 2025 if exemple in ("habitants", "carte") else 2024
    say(ctx, f"Dossier d'exemple créé : {directory}/")
    say(ctx, f"Essayez : ent-bill --inputs {directory} compute {year}")
    emit_json(ctx, {"ok": True, "dossier": str(directory)})


@main.command()
@click.argument("annee", type=YEAR)
@click.pass_obj
def validate(ctx: Context, annee: int) -> None:
    """Vérifier les données d'une année sans rien écrire.

    Affiche toutes les erreurs d'un coup (fichier, ligne, colonne, valeur, correction
    suggérée), puis les avertissements. Code de sortie 1 s'il reste une erreur.
    paiements.csv compris : ses numéros de titre et ses communes sont comparés au
    registre des titres quand il existe (sinon, seule la forme est vérifiée).

    Exemple :

        ent-bill validate 2024
    """
    from billing.core.problems import BillingError
    from billing.reconciling import check_payments
    from billing.year import prepare_year

    def check():
        payments = check_payments(ctx.inputs, annee, ctx.ledger_path())  # every input of the year, at once
        try:
            data = prepare_year(ctx.inputs, annee)
        except BillingError as exc:
            raise BillingError([*exc.problems, *payments]) from None
        if any(p.is_error for p in payments):
            raise BillingError([*data.warnings, *payments])
        return data, (*data.warnings, *payments)

    data, warnings = run_guarded(ctx, check)
    show_warnings(ctx, warnings)
    members = data.billing_base.height
    say(ctx, f"Données {annee} valides : {members} communes membres, tarif « {data.tariff.deliberation} » "
             f"(rentrée {data.tariff.rentree}), {len(warnings)} avertissement(s).")
    emit_json(ctx, {"ok": True, "annee": annee, "communes": members,
                    "avertissements": [p.as_dict() for p in warnings]})


PDF_OPTION = click.option("--pdf", is_flag=True,
                          help="Écrire aussi chaque avis en PDF/A (ou notices = [\"xlsx\", \"pdf\"] dans syndicat.toml).")


@main.command()
@click.argument("annee", type=YEAR)
@PDF_OPTION
@click.pass_obj
def compute(ctx: Context, annee: int, pdf: bool) -> None:
    """Calculer les contributions et écrire les projets d'avis et les tableaux.

    Écrit dans reports/ANNEE/ (ou --out) : avis/PROJET_*.xlsx, contributions_ANNEE.xlsx,
    contributions_ANNEE.csv, synthese_ANNEE.xlsx et manifest.json. Peut être relancé
    librement : rien n'est émis ni numéroté.

    Exemple :

        ent-bill compute 2024
    """
    from billing.compute import compute as compute_year
    from billing.progress import progress_for

    with progress_for(ctx.quiet or ctx.as_json) as progress:
        result = run_guarded(ctx, lambda: compute_year(ctx.inputs, annee, out_dir=ctx.out_dir(annee),
                                                       ledger_path=ctx.ledger_path(), progress=progress, pdf=pdf))
    show_warnings(ctx, result.warnings)
    for line in result.summary_lines():
        say(ctx, line)
    emit_json(ctx, result.as_json())


@main.command()
@click.argument("annee", type=YEAR)
@click.argument("commune")
@click.pass_obj
def explain(ctx: Context, annee: int, commune: str) -> None:
    """Expliquer le calcul d'une commune (nom ou code INSEE), ligne par ligne.

    Exemple :

        ent-bill explain 2024 "Lys-lez-Lannoy"
    """
    from billing.questions import explain as explain_commune

    explanation = run_guarded(ctx, lambda: explain_commune(ctx.inputs, annee, commune))
    for line in explanation.lines:
        say(ctx, line)
    emit_json(ctx, explanation.as_json())


@main.command()
@click.argument("annee", type=YEAR)
@click.option("--set", "settings", multiple=True, metavar="CLE=VALEUR",
              help="Paramètre du tarif à modifier (part_eleve, part_ecole, part_fixe, plancher, plafond, prorata, "
                   "tranches_eleve, tranches, mode, montant_total, poids, rentree). Répétable.")
@click.option("--cible", default=None, metavar="MONTANT",
              help="Total à atteindre sans le dépasser : calcule le tarif unitaire correspondant.")
@click.option("--cible-sur", "cible_sur", type=click.Choice(["part_eleve", "part_ecole", "part_fixe", "part_habitant",
                                                                  "part_classe"]),
              default="part_eleve", show_default=True, help="Le paramètre à résoudre pour --cible.")
@click.option("--scenario", "scenario_file", type=click.Path(path_type=Path), default=None,
              help="Fichier TOML de variantes nommées ([nom] puis cle = valeur), comparées dans un classeur.")
@click.pass_obj
def simulate(ctx: Context, annee: int, settings: tuple[str, ...], cible: str | None, cible_sur: str,
             scenario_file: Path | None) -> None:
    """Simuler un autre tarif, ou trouver le tarif qui couvre un coût (rien n'est émis).

    Écrit reports/ANNEE/simulation_ANNEE_<nom>.xlsx avec le tarif actuel et le tarif
    simulé côte à côte, et affiche les plus grands écarts.

    Exemple :

        ent-bill simulate 2024 --set part_eleve=1.35 --set part_fixe=50

        ent-bill simulate 2024 --cible 180000
    """
    from billing.questions import run_simulation

    result = run_guarded(ctx, lambda: run_simulation(ctx.inputs, annee, settings=list(settings),
                                                     out_dir=ctx.out_dir(annee), scenario_file=scenario_file,
                                                     cible=cible, cible_sur=cible_sur),
                         usage_sources=("--set", "--cible"))
    for line in result.summary_lines():
        say(ctx, line)
    emit_json(ctx, result.as_json())


@main.command()
@click.argument("annee", type=YEAR)
@click.option("--dry-run", is_flag=True, help="Montrer ce qui serait émis, sans rien numéroter ni écrire.")
@click.option("--hors-exercice", "hors_exercice", is_flag=True,
              help="Confirmer l'émission de titres datés hors de leur exercice (sans date_emission dans "
                   "tarifs.toml, les titres portent la date du jour).")
@click.option("--date", "date_emission", type=FRENCH_DATE, default=None, metavar="JJ/MM/AAAA",
              help="Date des titres de cette émission (par défaut date_emission de tarifs.toml, sinon le jour "
                   "même) : une correction émise plus tard porte ainsi sa propre date.")
@PDF_OPTION
@click.pass_obj
def issue(ctx: Context, annee: int, dry_run: bool, hors_exercice: bool, pdf: bool, date_emission) -> None:
    """Émettre les titres de recettes : numéros définitifs sans trou, avis définitifs.

    Relancer avec les mêmes données n'émet rien. Si les données ont changé depuis,
    émet les corrections : titre complémentaire, réduction ou annulation citant
    le titre d'origine. Les avis manquants sont réécrits depuis le registre.

    Exemple :

        ent-bill issue 2024 --dry-run && ent-bill issue 2024
    """
    from billing.issuing import issue as issue_year
    from billing.progress import progress_for

    with progress_for(ctx.quiet or ctx.as_json) as progress:
        result = run_guarded(ctx, lambda: issue_year(ctx.inputs, annee, out_dir=ctx.out_dir(annee),
                                                     ledger_path=ctx.ledger_path(), dry_run=dry_run,
                                                     progress=progress, hors_exercice=hors_exercice, pdf=pdf,
                                                     date_emission=date_emission))
    show_warnings(ctx, result.warnings, limit=10)
    for line in result.summary_lines():
        say(ctx, line)
    emit_json(ctx, result.as_json())


@main.command()
@click.argument("annee", type=YEAR)
@click.option("--bordereau", "numero", type=click.IntRange(min=1), default=None, metavar="N",
              help="Seulement le bordereau n° N (des deux séries, sauf --serie).")
@click.option("--serie", type=click.Choice(["titres", "reductions"]), default=None,
              help="Seulement la série titres (TypBord 01) ou reductions (TypBord 02).")
@click.pass_obj
def pes(ctx: Context, annee: int, numero: int | None, serie: str | None) -> None:
    """Réécrire les fichiers PES V2 (Hélios) des bordereaux émis, depuis le registre.

    Ne numérote rien : chaque fichier est réécrit à l'identique, octet pour octet ; une
    différence avec l'empreinte enregistrée à sa première écriture est signalée (code 1).

    Exemple :

        ent-bill pes 2024 --bordereau 2 --serie titres
    """
    from billing.exports import rewrite_pes

    report = run_guarded(ctx, lambda: rewrite_pes(ctx.inputs, annee, out_dir=ctx.out_dir(annee),
                                                  ledger_path=ctx.ledger_path(), numero=numero, serie=serie))
    for path in report.written:
        say(ctx, f"PES écrit : {path}")
    emit_json(ctx, {"ok": not (report.mismatches or report.problems), "fichiers": [str(p) for p in report.written],
                    "differences": report.mismatches, "erreurs": report.problems})
    for text in report.problems:
        click.echo(f"Erreur : {text}", err=True)
    for text in report.mismatches:
        click.echo(f"Erreur : {text}", err=True)
    if report.mismatches or report.problems:
        sys.exit(EXIT_DATA)


def _check_anchors(click_ctx, param, values: tuple[str, ...]) -> tuple[str, ...]:
    """A malformed empreinte is a typing mistake (exit 2), not a sign that the ledger was altered."""
    from billing.core.problems import BillingError
    from billing.issuing import parse_anchor

    for value in values:
        try:
            parse_anchor(value)
        except BillingError as exc:
            raise click.BadParameter(str(exc)) from None
    return values


@main.command()
@click.option("--empreinte", "anchors", multiple=True, metavar="NUMÉRO:EMPREINTE", callback=_check_anchors,
              help="Empreinte imprimée sur un bordereau (répétable) : prouve qu'aucun titre jusqu'à celui-là "
                   "n'a été réécrit, même si tout le registre a été refait.")
@click.pass_obj
def verify(ctx: Context, anchors: tuple[str, ...]) -> None:
    """Vérifier que rien de ce qui a été émis n'a été modifié ni supprimé.

    Recalcule la chaîne d'empreintes, la numérotation sans trou de chaque exercice
    et les corrections ; nomme chaque titre altéré. Avec --empreinte, vérifie aussi
    que le titre noté sur un bordereau porte toujours son empreinte. Code de sortie 1
    si le registre a été altéré.

    Exemple :

        ent-bill verify --empreinte ENT-2024-0071:3f9a…
    """
    from billing.issuing import verify_ledger

    result = run_guarded(ctx, lambda: verify_ledger(ctx.ledger_path(), anchors=anchors))
    emit_json(ctx, {"ok": not result.findings, "titres": result.count, "anomalies": list(result.findings),
                    "empreintes": list(result.anchors)})
    if result.findings:
        click.echo(f"Erreur : le registre {ctx.ledger_path()} a été altéré :", err=True)
        for finding in result.findings:
            click.echo(f"  ✗ {finding}", err=True)
        sys.exit(EXIT_DATA)
    checked = f", {len(anchors)} empreinte(s) de bordereau retrouvée(s)" if anchors else ""
    say(ctx, f"Registre intact : {result.count} titre(s), chaîne d'empreintes et numérotation vérifiées{checked}.")
    for anchor in result.anchors:
        say(ctx, f"  Dernière empreinte : {anchor}")


@main.command()
@click.argument("annee", type=YEAR)
@click.pass_obj
def titres(ctx: Context, annee: int) -> None:
    """Lister les titres émis pour un exercice (numéro, nature, commune, montant).

    Exemple :

        ent-bill titres 2024
    """
    from billing.core.corrections import NATURE_LABELS
    from billing.core.money import cents_to_str, format_euros
    from billing.issuing import issued_titres

    items = run_guarded(ctx, lambda: issued_titres(ctx.ledger_path(), annee))
    for t in items:
        origin = f" sur {t.origine_numero}" if t.origine_numero else ""
        say(ctx, f"{t.numero:<16} {t.date_emission.strftime('%d/%m/%Y')} {NATURE_LABELS[t.nature]:<21} {t.code_insee} "
                 f"{t.commune:<30} {format_euros(t.montant_cents):>14}{origin}")
    if not items:
        say(ctx, f"Aucun titre émis pour {annee}.")
    else:
        net = sum(t.signed_cents for t in items)
        say(ctx, f"Total : {len(items)} titre(s), net émis {format_euros(net)}")
    emit_json(ctx, {"ok": True, "annee": annee, "titres": [
        {"numero": t.numero, "nature": t.nature, "code_insee": t.code_insee, "commune": t.commune,
         "montant": cents_to_str(t.montant_cents), "origine": t.origine_numero,
         "date_emission": t.date_emission.isoformat()} for t in items]})


@main.command()
@click.argument("annee", type=YEAR)
@click.pass_obj
def reconcile(ctx: Context, annee: int) -> None:
    """Rapprocher les paiements (paiements.csv) des titres émis et lister les relances.

    Écrit reports/ANNEE/rapprochement_ANNEE.xlsx : par titre émis, réduit, payé, reste
    à recouvrer, trop-perçu et jours de retard ; totaux équilibrés au centime.

    Exemple :

        ent-bill reconcile 2024
    """
    from billing.reconciling import reconcile_year

    result = run_guarded(ctx, lambda: reconcile_year(ctx.inputs, annee, out_dir=ctx.out_dir(annee),
                                                     ledger_path=ctx.ledger_path()))
    show_warnings(ctx, result.warnings)
    for line in result.summary_lines():
        say(ctx, line)
    emit_json(ctx, result.as_json())


# ----- [issue 13] sauvegarde: one self-contained block (billing/ledger/backup.py does the work) -----------


@main.command()
@click.argument("dest", type=click.Path(path_type=Path), required=False, default=None)
@click.pass_obj
def sauvegarde(ctx: Context, dest: Path | None) -> None:
    """Sauvegarder le registre des titres dans une copie vérifiée.

    Copie le registre de façon cohérente (aucune émission ne peut s'intercaler), puis
    relit la copie et vérifie sa chaîne d'empreintes. Sans DEST, la copie est
    sauvegardes/ent-bill-AAAAMMJJ-HHMMSS.duckdb à côté du registre ; DEST peut être
    un dossier ou un nom de fichier. Une sauvegarde existante n'est jamais écrasée.
    Pour restaurer : remplacez le registre par la copie (ent-bill arrêté).

    Exemple :

        ent-bill sauvegarde /media/cle/ent-bill-2024.duckdb
    """
    from billing.ledger.backup import backup_ledger

    from billing.core.money import format_count

    done = run_guarded(ctx, lambda: backup_ledger(ctx.ledger_path(), dest))
    say(ctx, f"Sauvegarde écrite : {done.path} ({done.titres} titre(s), {format_count(done.size)} octets, "
             "chaîne d'empreintes vérifiée).")
    emit_json(ctx, {"ok": True, "fichier": str(done.path), "titres": done.titres, "octets": done.size})


# ----- end of [issue 13] sauvegarde ----------------------------------------------------------------------


if __name__ == "__main__":  # pragma: no cover
    main()
