"""The Alembic migrations build exactly the schema the models describe."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text

from aidflow.store.database import upgrade
from aidflow.store.models import SCHEMA_REVISION, Base


def test_migrated_schema_matches_the_models(engine: Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diff == []
        assert (
            conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            == SCHEMA_REVISION
        )


def test_upgrade_is_idempotent(engine: Engine) -> None:
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
