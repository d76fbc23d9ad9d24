"""click's own words, in French: the officer reads « Utilisation », not « Usage ».

click marks its messages with gettext; this module gives those it shows here a French
text and installs it in click's modules before the command line is built. A message
without a translation stays as click wrote it (never an empty string).
"""

from __future__ import annotations

import click

FRENCH = {
    "Usage:": "Utilisation :",
    "Options": "Options",
    "Commands": "Commandes",
    "Positional arguments": "Arguments",
    "Show this message and exit.": "Afficher cette aide et quitter.",
    "Show the version and exit.": "Afficher la version et quitter.",
    "Try '{command} {option}' for help.": "Aide : « {command} {option} ».",
    "Error: {message}": "Erreur : {message}",
    "Invalid value for {param_hint}: {message}": "Valeur invalide pour {param_hint} : {message}",
    "Invalid value: {message}": "Valeur invalide : {message}",
    "Missing argument": "Argument manquant",
    "Missing option": "Option manquante",
    "Missing parameter": "Paramètre manquant",
    "Missing command.": "Commande manquante.",
    "Missing parameter: {param_name}": "Paramètre manquant : {param_name}",
    "Missing {param_type}": "{param_type} manquant",
    "No such command {name!r}.": "Commande inconnue : {name!r}.",
    "No such option {name!r}.": "Option inconnue : {name!r}.",
    "Option {name!r} does not take a value.": "L'option {name!r} ne prend pas de valeur.",
    "Option {name!r} requires an argument.": "L'option {name!r} attend une valeur.",
    "Option {name!r} requires {nargs} arguments.": "L'option {name!r} attend {nargs} valeurs.",
    "Got unexpected extra argument ({args})": "Argument en trop : {args}",
    "Got unexpected extra arguments ({args})": "Arguments en trop : {args}",
    "Did you mean {possibility}?": "Vouliez-vous dire {possibility} ?",
    "(Did you mean one of: {possibilities}?)": "(Vouliez-vous dire l'un de : {possibilities} ?)",
    "{value!r} is not {choice}.": "{value!r} n'est pas {choice}.",
    "{value!r} is not one of {choices}.": "{value!r} n'est pas l'un de : {choices}.",
    "{value!r} is not a valid {number_type}.": "{value!r} n'est pas un nombre valide.",
    "{value} is not in the range {range}.": "{value} n'est pas dans l'intervalle {range}.",
    "default: {default}": "par défaut : {default}",
    "Aborted!": "Abandon.",
    "{name} {filename!r} does not exist.": "{name} {filename!r} introuvable.",
    "{name} {filename!r} is a directory.": "{name} {filename!r} est un dossier.",
    "{name} {filename!r} is a file.": "{name} {filename!r} est un fichier.",
    "{name} {filename!r} is not readable.": "{name} {filename!r} illisible (droits).",
    "{name} {filename!r} is not writable.": "{name} {filename!r} non modifiable (droits).",
    "file": "fichier",
    "directory": "dossier",
    "path": "chemin",
    "%(prog)s, version %(version)s": "%(prog)s, version %(version)s",
}


def _(message: str) -> str:
    return FRENCH.get(message, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _(singular if n == 1 else plural)


def install() -> None:
    """Point click's gettext hooks at the French texts (idempotent)."""
    import click.core
    import click.decorators
    import click.exceptions
    import click.formatting
    import click.parser
    import click.types
    import click.utils

    for module in (click.core, click.decorators, click.exceptions, click.formatting, click.parser, click.types,
                   click.utils):
        if hasattr(module, "_"):
            module._ = _
        if hasattr(module, "ngettext"):
            module.ngettext = ngettext


__all__ = ["FRENCH", "install", "click"]
