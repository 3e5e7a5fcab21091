"""A Discourse-compatible discussion forum server for federations of co-operatives."""

from pathlib import Path

__version__ = "0.1.0"

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES_DIR = ROOT / "templates"
STATIC_DIR = ROOT / "static"
MIGRATIONS_DIR = ROOT / "migrations"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
