"""Fixtures shared by every test folder: the real services (``services``)."""

from .services import postgres_database

__all__ = ["postgres_database"]
