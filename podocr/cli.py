"""Thin click commands; each delegates to the module that does the work."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="podocr")
def main() -> None:
    """podocr — read a day's proof-of-delivery photos into Parquet."""
