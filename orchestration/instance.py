"""The Dagster instance the CLI runs its jobs in: DAGSTER_HOME's, with cheaper SQLite event writes.

Dagster's default SQLite event log opens, commits, checkpoints and closes a database for every
event, twice for an asset event (the run's file and the cross-run index.db): ~10 ms CPU and, with
the fsyncs, 20-60 ms wall each. A backfill records ~190 events, 98 of them the per-week
materializations of `api_responses` that give the UI each week's status. Here:

- Dagster's event batching (DAGSTER_EVENT_BATCH_SIZE) hands over the events it marks as one batch
  (a step's partition materializations, the run's planned events) at once, and they are written
  in one transaction per database: the same rows, so the UI shows each week as before;
- each database keeps one connection open for the process instead of one per event. After a
  write to a run's file its WAL is checkpointed into the file, as closing it did: a UI tailing
  the run watches that file change.

Only the tokentide CLI uses this; `dagster dev` and the daemon read and write the same files with
Dagster's own storage.
"""

import os
from contextlib import contextmanager

import dagster as dg
from dagster._core.events import ASSET_EVENTS
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._core.storage.event_log.sqlite.sqlite_event_log import INDEX_SHARD_NAME, SqliteEventLogStorage
from dagster._core.storage.sql import create_engine
from dagster._core.storage.sqlite import SQLITE_BUSY_TIMEOUT_SECONDS

EVENT_BATCH_SIZE = "1000"  # more than a run's largest batch (98 weeks today, ~52 more a year)


class BatchingSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage that writes a batch in one transaction per database and keeps its
    databases open. Holds no state of its own beyond a cache, so an existing storage can become one."""

    @contextmanager
    def _connect(self, shard: str):
        with self._db_lock:
            engines = self.__dict__.setdefault("_tt_engines", {})
            engine = engines.get(shard)
            if engine is None:
                engine = create_engine(self.conn_string_for_shard(shard), pool_size=1,
                                       connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
                if shard not in self._initialized_dbs:
                    self._initdb(engine)
                    self._initialized_dbs.add(shard)
                engines[shard] = engine
            with engine.connect() as conn:
                before = conn.connection.dbapi_connection.total_changes
                with conn.begin():
                    yield conn
                if shard != INDEX_SHARD_NAME and conn.connection.dbapi_connection.total_changes != before:
                    # what closing the file did: copy the WAL into <run>.db, which a UI tailing
                    # the run watches for changes
                    conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

    def has_table(self, table_name: str) -> bool:
        # asked for every asset event (a new engine and connection each time); tables are never dropped
        known = self.__dict__.setdefault("_tt_tables", {})
        if table_name not in known:
            known[table_name] = super().has_table(table_name)
        return known[table_name]

    def store_event_batch(self, events) -> None:
        """Runs of asset events (materializations, planned) go in one transaction per database, as
        `store_event` writes them one by one; any other event goes through `store_event`, in order."""
        group: list = []
        for event in events:
            if _is_asset_event(event) and (not group or group[0].run_id == event.run_id):
                group.append(event)
                continue
            self._store_asset_events(group)
            group = [event] if _is_asset_event(event) else []
            if not group:
                self.store_event(event)
        self._store_asset_events(group)

    def _store_asset_events(self, events: list) -> None:
        if not events:
            return
        if len(events) == 1:
            self.store_event(events[0])
            return
        rows = [self._event_to_row(event) for event in events]  # each event serialized once, not twice
        with self.run_connection(events[0].run_id) as conn:
            conn.execute(SqlEventLogStorageTable.insert(), rows)
        with self.index_transaction() as conn:
            inserted = conn.execute(SqlEventLogStorageTable.insert().returning(
                SqlEventLogStorageTable.c.id, sort_by_parameter_order=True), rows)
            ids = [event_id for (event_id,) in inserted]
            self._store_asset_event_tags(conn, events, ids)
            for event, event_id in _last_word_per_asset(events, ids):
                self._store_asset_event(conn, event, event_id)

    def dispose(self) -> None:
        for engine in self.__dict__.pop("_tt_engines", {}).values():
            engine.dispose()
        super().dispose()


# The asset_keys columns each event type overwrites (_store_asset_event): a materialization sets
# the last materialization, run and timestamp; a planned event the run and timestamp; an
# observation the timestamp; other asset events none. Each set contains the next.
_OVERWRITES = {"ASSET_MATERIALIZATION": 3, "ASSET_MATERIALIZATION_PLANNED": 2, "ASSET_OBSERVATION": 1}


def _last_word_per_asset(events: list, ids: list) -> list:
    """The (event, id) pairs whose asset_keys update is not wholly overwritten by a later event of
    the batch for the same asset: applying only these, in order, leaves the rows as applying all
    (98 upserts of api_responses' row become one)."""
    kept, later = [], {}
    for event, event_id in reversed(list(zip(events, ids))):
        key = event.dagster_event.asset_key
        rank = _OVERWRITES.get(event.dagster_event_type.value, 0)
        if rank > later.get(key, 0):
            kept.append((event, event_id))
            later[key] = rank
    return kept[::-1]


def _is_asset_event(event) -> bool:
    return bool(event.is_dagster_event and event.dagster_event_type in ASSET_EVENTS and event.dagster_event.asset_key)


def cli_instance() -> dg.DagsterInstance:
    """DAGSTER_HOME's instance; its event log batched as above when it is Dagster's plain SQLite one
    (a Postgres or custom storage is left as configured). Use as a context manager: it closes
    the databases it keeps open."""
    os.environ.setdefault("DAGSTER_EVENT_BATCH_SIZE", EVENT_BATCH_SIZE)
    instance = dg.DagsterInstance.get()
    storage = instance.event_log_storage
    if type(storage) is SqliteEventLogStorage:
        storage.__class__ = BatchingSqliteEventLogStorage
    return instance
