"""Entry point for the two TOML inputs: the names the rest of the program imports, re-exported.

The work is done in one module per job:

- ``tomlfile``    — parse a TOML file (size and depth limits, French syntax errors), locate problems;
- ``values``      — one converter per kind of value (amount, unit price, bands, weights, SIRET, IBAN…);
- ``syndicat``    — syndicat.toml (the issuer and its accountant);
- ``tariffs``     — tarifs.toml and the ``simulate --set`` overrides, through one validation path;
- ``tariff_text`` — a tariff shown to people (« Paramètres » rows) and as JSON.
"""

from billing.inputs.syndicat import read_syndicat
from billing.inputs.tariff_text import describe_tariff, tariff_to_dict
from billing.inputs.tariffs import Tariffs, apply_overrides, read_tariffs, tariff_for_year, tariff_source

__all__ = ["Tariffs", "apply_overrides", "describe_tariff", "read_syndicat", "read_tariffs", "tariff_for_year",
           "tariff_source", "tariff_to_dict"]
