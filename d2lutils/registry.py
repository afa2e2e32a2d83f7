"""Every dataset file the book uses: sha256 and upstream URLs, read from ``registry.tsv``.

``registry.tsv`` ships inside the package (so a pip-installed d2lutils, e.g. on Colab, has it) and is
the registry's only source; ``tests/test_hub.py`` checks it against ``data/MANIFEST.tsv`` and the
committed files. The book's own repository (``data/``) is tried as a further mirror, see ``hub.py``.
"""
from __future__ import annotations

from importlib import resources


def read_registry(text: str) -> dict[str, tuple[str, tuple[str, ...], str]]:
    """``name -> (sha256, upstream URLs in the order tried, licence)`` from the TSV text."""
    entries: dict[str, tuple[str, tuple[str, ...], str]] = {}
    rows = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    header, body = rows[0].split("\t"), rows[1:]
    if header != ["name", "sha256", "urls", "licence"]:
        raise ValueError(f"registry.tsv: unexpected header {header}")
    for n, line in enumerate(body, start=2):
        fields = line.split("\t")
        if len(fields) != 4 or len(fields[1]) != 64:
            raise ValueError(f"registry.tsv row {n}: expected name, sha256 (64 hex), urls, licence: {line!r}")
        name, sha, urls, licence = fields
        entries[name] = (sha, tuple(urls.split()), licence)
    return entries


REGISTRY_ENTRIES = read_registry(
    resources.files(__package__).joinpath("registry.tsv").read_text(encoding="utf-8"))
