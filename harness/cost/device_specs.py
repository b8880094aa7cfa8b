"""Device specs: a built-in throughput table by name (the measured CPU table, the datasheet-derived
GPU tables of :mod:`harness.cost.datasheets`) or a table file (``sae-claims cost --device-spec``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from harness.cost.datasheets import datasheet_table
from harness.cost.throughput import BUILTIN_TABLES, ThroughputTable, read_table_json, table_from_json
from harness.errors import ConfigError


def builtin_table(name: str) -> ThroughputTable:
    """A built-in table (:data:`BUILTIN_TABLES`); device tables get the CPU table as host."""
    if name not in BUILTIN_TABLES:
        raise ConfigError(f"Unknown device spec {name!r}; use one of {list(BUILTIN_TABLES)} or a table file.")
    if name != "cpu":
        table = datasheet_table(name)
        table.host = builtin_table("cpu")
        return table
    text = resources.files("harness.cost").joinpath(f"tables/{name}.json").read_text()
    table = table_from_json(read_table_json(name, text), origin=name)
    if table.device != "cpu":
        table.host = builtin_table("cpu")
    return table


def load_table(spec: str) -> ThroughputTable:
    """``spec``: a built-in name or a table file (a measured cuda table gets the CPU table as
    host unless it carries its own ``host`` table)."""
    if spec in BUILTIN_TABLES:
        return builtin_table(spec)
    path = Path(spec)
    if not path.is_file():
        raise ConfigError(
            f"Device spec {spec!r} is neither a built-in ({', '.join(BUILTIN_TABLES)}) nor a table file; "
            "write one with `sae-claims cost --calibrate --device cuda --out FILE`."
        )
    data = read_table_json(path, path.read_text())
    table = table_from_json(data, origin=str(path))
    if table.device != "cpu":
        host = data.get("host")
        table.host = table_from_json(host, origin=f"{path}:host") if isinstance(host, dict) else builtin_table("cpu")
    return table
