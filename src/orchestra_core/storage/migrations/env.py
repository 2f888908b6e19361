"""Alembic environment of the orchestra store.

Migrations run through :func:`orchestra_core.storage.migrate.upgrade`, which opens the
connection, takes the write lock and hands the connection over in ``config.attributes``; there
is no ``alembic.ini`` and no offline (``--sql``) mode.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from orchestra_core.storage.schema import METADATA

connection = context.config.attributes.get("connection")
if not isinstance(connection, sa.Connection):
    raise RuntimeError(
        "run orchestra's migrations with orchestra_core.storage.migrate.upgrade() "
        "(or `orchestra db upgrade`), which passes the connection"
    )

context.configure(
    connection=connection,
    target_metadata=METADATA,
    # SQLite cannot ALTER most things: later migrations copy tables in batch mode.
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
