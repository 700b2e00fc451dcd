"""The unit of work the layers above are handed: SQLAlchemy's Session, named by the store.

Services and commands receive a Session from `aidflow.store.database.Database` (or a test)
and pass it to store functions; they import the type from here so that only the store
imports SQLAlchemy.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

__all__ = ["Session"]
