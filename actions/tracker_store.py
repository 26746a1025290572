"""Rasa's tracker store, configured from the same environment as the project's records:
DATABASE_URL (or .env), by default the SQLite file in var/. Conversations survive a restart
of any process, and deleting a person's data can remove their tracker events too."""
import contextlib
from typing import Any, Generator, Optional

from rasa.core.tracker_store import SQLTrackerStore, ensure_schema_exists

from actions.storage import database_url
from actions import rasa_patches

rasa_patches.install()


class EnvSQLTrackerStore(SQLTrackerStore):
    def __init__(self, domain: Optional[Any] = None, host: Optional[str] = None,
                 event_broker: Optional[Any] = None, **kwargs: Any) -> None:
        url = database_url()
        dialect = url.split(":", 1)[0].split("+", 1)[0]
        if url.startswith("sqlite:///"):
            from pathlib import Path
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        kwargs.pop("url", None)
        kwargs.pop("dialect", None)
        super().__init__(domain=domain, dialect=dialect, host=url, event_broker=event_broker,
                         **kwargs)

    @contextlib.contextmanager
    def session_scope(self) -> Generator[Any, None, None]:
        """Rasa's own, except that a ValueError raised while the session is used (a sender id
        with an unpaired surrogate, say) is an error for that one request: Rasa's version
        takes any ValueError for a missing PostgreSQL schema and exits the whole server."""
        session = self.sessionmaker()
        try:
            try:
                ensure_schema_exists(session)
            except ValueError:
                session.close()
                with super().session_scope() as s:  # Rasa's message and exit
                    yield s
                return
            yield session
        finally:
            session.close()

    async def save(self, tracker: Any) -> None:
        """Saves the tracker, except after "delete my data" was confirmed: then the person's
        tracker events and records are erased instead of written back."""
        if tracker.get_slot("erase_requested"):
            from actions.storage import Store
            Store(database_url(), engine=self.engine).delete_conversation(tracker.sender_id)
            return
        await super().save(tracker)
