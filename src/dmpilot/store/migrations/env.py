"""Alembic environment: dmpilot always hands in an open connection (see store/database.py)."""

from alembic import context

from dmpilot.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through dmpilot (dmpilot serve / dmpilot migrate)")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
