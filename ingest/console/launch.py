"""The `source-ingest` command's entry point, kept apart from the CLI so that importing it
costs nothing.

Every extraction worker imports the script that started the service (multiprocessing's
fork server prepares each worker so), and the script imports this module: were it the CLI,
each worker would load the whole service (SQLAlchemy, click, the index) that it never uses.
"""

from __future__ import annotations


def main() -> None:
    from ingest.console.cli import main as cli_main

    cli_main()
