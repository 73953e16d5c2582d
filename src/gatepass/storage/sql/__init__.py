"""SQL storage backend: SQLAlchemy Core tables, async engine, stores and shipped migrations.

Typical use: ``migrate.upgrade(url)`` once (``gatepass db upgrade``), then
``stores = await open_sql_stores(url)`` and ``await stores.close()`` on shutdown.
"""

from gatepass.storage.sql.engine import create_engine
from gatepass.storage.sql.migrate import current_revision, upgrade, upgrade_async
from gatepass.storage.sql.stores import open_sql_stores

__all__ = ["create_engine", "current_revision", "open_sql_stores", "upgrade", "upgrade_async"]
