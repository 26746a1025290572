"""Storage: the one module that touches the project's database (SQLAlchemy 1.4, 2.0 style).

Holds each conversation's intake (one column per canonical fact), every assessment (with its
rules_version and the exact intake it was made from), consent records, handoff tickets,
agents' replies and internal notes, staff accounts, and an audit log of who viewed or changed
what. Rasa's own tracker (table `events`) lives in the same database (see
actions/tracker_store.py), so deleting a person's data removes both.

The database is `DATABASE_URL` (environment or .env), by default a SQLite file in var/.
"""
import datetime as dt
import hashlib
import hmac
import os
import secrets
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from dotenv import load_dotenv
from sqlalchemy import (JSON, Boolean, Column, DateTime, Float, ForeignKey, Integer, MetaData,
                        String, Table, Text, create_engine, delete, func, inspect, select,
                        update)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, declarative_base, relationship, sessionmaker

from actions.audit_ref import conversation_ref
from actions.triage.engine import default_kb

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = f"sqlite:///{ROOT / 'var' / 'triage.db'}"
ROLES = ("agent", "clinician", "admin")
TICKET_STATES = ("open", "claimed", "resolved")

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s", "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s", "pk": "pk_%(table_name)s"})
Base = declarative_base(metadata=metadata)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def database_url() -> str:
    load_dotenv(ROOT / ".env")
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    return url


class Conversation(Base):
    __tablename__ = "conversations"
    id = Column(String(255), primary_key=True)  # Rasa's sender_id
    channel = Column(String(64))
    mode = Column(String(16), nullable=False, default="shop")
    clinic_id = Column(String(64), index=True)
    status = Column(String(16), nullable=False, default="bot")  # bot | paused | closed
    created_at = Column(DateTime, nullable=False, default=_now)
    updated_at = Column(DateTime, nullable=False, default=_now, onupdate=_now, index=True)


def _intake_table() -> Table:
    """One column per canonical fact of the knowledge base (the shared vocabulary)."""
    kb = default_kb()
    cols = [Column("conversation_id", String(255),
                   ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True),
            Column("age", Float), Column("skin_type", Integer), Column("device_type", String(16)),
            Column("needle_mm", Float), Column("concerns", JSON), Column("areas", JSON),
            Column("recent_procedures", JSON), Column("red_flags", JSON),
            Column("updated_at", DateTime, nullable=False, default=_now, onupdate=_now)]
    for fact in kb.facts:
        cols.append(Column(fact, Float if fact in kb.number_facts else Boolean))
    return Table("intakes", metadata, *cols)


intakes = _intake_table()
INTAKE_FACTS = tuple(default_kb().facts)


class Assessment(Base):
    __tablename__ = "assessments"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), ForeignKey("conversations.id", ondelete="CASCADE"),
                             nullable=False, index=True)
    created_at = Column(DateTime, nullable=False, default=_now)
    disposition = Column(String(32), nullable=False)
    rules_version = Column(String(32), nullable=False)
    intake = Column(JSON, nullable=False)       # the exact intake it was made from
    assessment = Column(JSON, nullable=False)


class ConsentRecord(Base):
    __tablename__ = "consent_records"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), ForeignKey("conversations.id", ondelete="CASCADE"),
                             nullable=False, index=True)
    given = Column(Boolean, nullable=False)
    consent_version = Column(String(32), nullable=False)
    channel = Column(String(64))
    created_at = Column(DateTime, nullable=False, default=_now)


class Ticket(Base):
    __tablename__ = "tickets"
    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(255), ForeignKey("conversations.id", ondelete="CASCADE"),
                             nullable=False, index=True)
    reason = Column(String(64), nullable=False)
    urgency = Column(String(32), nullable=False)      # a disposition id
    urgency_rank = Column(Integer, nullable=False)    # 0 = most urgent
    status = Column(String(16), nullable=False, default="open", index=True)
    channel = Column(String(64))
    mode = Column(String(16))
    clinic_id = Column(String(64), index=True)
    summary = Column(JSON, nullable=False)            # intake, assessment, consent at handoff
    claimed_by = Column(String(64))
    created_at = Column(DateTime, nullable=False, default=_now)
    claimed_at = Column(DateTime)
    resolved_at = Column(DateTime)
    messages = relationship("StaffMessage", cascade="all, delete-orphan",
                            order_by="StaffMessage.id", passive_deletes=True)


class StaffMessage(Base):
    """An agent's reply to the person (kind 'reply') or an internal note (kind 'note')."""
    __tablename__ = "staff_messages"
    id = Column(Integer, primary_key=True)
    ticket_id = Column(Integer, ForeignKey("tickets.id", ondelete="CASCADE"), nullable=False,
                       index=True)
    author = Column(String(64), nullable=False)
    kind = Column(String(8), nullable=False)
    text = Column(Text, nullable=False)
    created_at = Column(DateTime, nullable=False, default=_now)


class StaffUser(Base):
    __tablename__ = "staff_users"
    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, unique=True)
    display_name = Column(String(128), nullable=False)
    role = Column(String(16), nullable=False)
    clinic_id = Column(String(64))
    password_hash = Column(String(255))
    token_hash = Column(String(128), unique=True)
    created_at = Column(DateTime, nullable=False, default=_now)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id = Column(Integer, primary_key=True)
    at = Column(DateTime, nullable=False, default=_now, index=True)
    actor = Column(String(64), nullable=False)
    action = Column(String(32), nullable=False)   # viewed | claimed | replied | noted | ...
    target_type = Column(String(32), nullable=False)
    target_id = Column(String(255), nullable=False)


def _hash(secret: str, salt: Optional[bytes] = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, 200_000)
    return salt.hex() + "$" + digest.hex()


def _check(secret: str, stored: Optional[str]) -> bool:
    if not stored or "$" not in stored:
        return False
    salt, _ = stored.split("$", 1)
    return hmac.compare_digest(_hash(secret, bytes.fromhex(salt)), stored)


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Store:
    """All reads and writes of the project's records."""

    def __init__(self, url: Optional[str] = None, engine: Optional[Engine] = None):
        self.url = url or database_url()
        if engine is None:
            if self.url.startswith("sqlite:///"):
                Path(self.url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(self.url, future=True, pool_pre_ping=True)
        self.engine = engine
        self._sessions = sessionmaker(engine, future=True, expire_on_commit=False)

    # --- schema ----------------------------------------------------------------------
    def migrate(self) -> None:
        """Bring the schema to the newest Alembic revision (what the run command does)."""
        from alembic import command
        from alembic.config import Config
        cfg = Config(str(ROOT / "alembic.ini"))
        cfg.set_main_option("script_location", str(ROOT / "migrations"))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def tables(self) -> List[str]:
        return sorted(inspect(self.engine).get_table_names())

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as s, s.begin():
            yield s

    # --- conversations and intake ----------------------------------------------------
    def _conversation(self, s: Session, cid: str, channel: Optional[str] = None,
                      mode: Optional[str] = None, clinic_id: Optional[str] = None) -> Conversation:
        conv = s.get(Conversation, cid)
        if conv is None:
            conv = Conversation(id=cid, channel=channel, mode=mode or "shop", clinic_id=clinic_id)
            s.add(conv)
            s.flush()
        else:
            if channel:
                conv.channel = channel
            if mode:
                conv.mode = mode
            if clinic_id:
                conv.clinic_id = clinic_id
            conv.updated_at = _now()
        return conv

    def save_intake(self, cid: str, intake: Dict[str, Any], channel: Optional[str] = None,
                    mode: Optional[str] = None, clinic_id: Optional[str] = None) -> None:
        row: Dict[str, Any] = {f: (intake.get("facts") or {}).get(f) for f in INTAKE_FACTS}
        device = intake.get("device") or {}
        row.update(age=intake.get("age"), skin_type=intake.get("skin_type"),
                   device_type=device.get("type"), needle_mm=device.get("needle_mm"),
                   concerns=intake.get("concerns") or [], areas=intake.get("areas") or [],
                   recent_procedures=intake.get("recent_procedures") or {},
                   red_flags=intake.get("red_flags") or [], updated_at=_now())
        with self.session() as s:
            self._conversation(s, cid, channel, mode, clinic_id)
            exists = s.execute(select(intakes.c.conversation_id)
                               .where(intakes.c.conversation_id == cid)).first()
            if exists:
                s.execute(update(intakes).where(intakes.c.conversation_id == cid).values(**row))
            else:
                s.execute(intakes.insert().values(conversation_id=cid, **row))

    def intake(self, cid: str) -> Optional[Dict[str, Any]]:
        with self.session() as s:
            r = s.execute(select(intakes).where(intakes.c.conversation_id == cid)).mappings().first()
        if r is None:
            return None
        out: Dict[str, Any] = {"facts": {f: r[f] for f in INTAKE_FACTS if r[f] is not None}}
        for key in ("age", "skin_type"):
            if r[key] is not None:
                out[key] = int(r[key]) if float(r[key]).is_integer() else r[key]
        for key in ("concerns", "areas", "red_flags"):
            if r[key]:
                out[key] = list(r[key])
        if r["device_type"] or r["needle_mm"] is not None:
            out["device"] = {k: v for k, v in (("type", r["device_type"]),
                                                ("needle_mm", r["needle_mm"])) if v is not None}
        if r["recent_procedures"]:
            out["recent_procedures"] = dict(r["recent_procedures"])
        return out

    def save_assessment(self, cid: str, intake: Dict[str, Any], assessment: Dict[str, Any]) -> int:
        with self.session() as s:
            self._conversation(s, cid)
            a = Assessment(conversation_id=cid, disposition=assessment["disposition"],
                           rules_version=assessment["rules_version"], intake=intake,
                           assessment=assessment)
            s.add(a)
            s.flush()
            return a.id

    def assessments(self, cid: str) -> List[Assessment]:
        with self.session() as s:
            return list(s.scalars(select(Assessment).where(Assessment.conversation_id == cid)
                                  .order_by(Assessment.id)))

    def record_consent(self, cid: str, given: bool, channel: Optional[str] = None) -> None:
        with self.session() as s:
            self._conversation(s, cid, channel)
            s.add(ConsentRecord(conversation_id=cid, given=given, channel=channel,
                                consent_version=str(default_kb().raw["consent"]["version"])))

    def consent(self, cid: str) -> Optional[ConsentRecord]:
        with self.session() as s:
            return s.scalars(select(ConsentRecord).where(ConsentRecord.conversation_id == cid)
                             .order_by(ConsentRecord.id.desc())).first()

    def conversation(self, cid: str) -> Optional[Conversation]:
        with self.session() as s:
            return s.get(Conversation, cid)

    def set_status(self, cid: str, status: str) -> None:
        with self.session() as s:
            self._conversation(s, cid).status = status

    def clinic_conversations(self, clinic_id: Optional[str]) -> List[Conversation]:
        """Clinic-mode conversations (of one clinic, or all for None)."""
        with self.session() as s:
            q = select(Conversation).where(Conversation.mode == "clinic")
            if clinic_id is not None:
                q = q.where(Conversation.clinic_id == clinic_id)
            return list(s.scalars(q.order_by(Conversation.updated_at.desc())))

    # --- tickets ---------------------------------------------------------------------
    def open_ticket(self, cid: str, reason: str, urgency: str, summary: Dict[str, Any],
                    channel: Optional[str] = None, mode: Optional[str] = None,
                    clinic_id: Optional[str] = None) -> int:
        rank = default_kb().rank.get(urgency, len(default_kb().levels))
        with self.session() as s:
            conv = self._conversation(s, cid, channel, mode, clinic_id)
            conv.status = "paused"
            existing = s.scalars(select(Ticket).where(Ticket.conversation_id == cid,
                                                      Ticket.status != "resolved")).first()
            if existing is not None:  # one open case per conversation: bring it up to date
                existing.reason, existing.summary = reason, summary
                existing.urgency, existing.urgency_rank = urgency, min(rank, existing.urgency_rank)
                return existing.id
            t = Ticket(conversation_id=cid, reason=reason, urgency=urgency, urgency_rank=rank,
                       summary=summary, channel=channel or conv.channel,
                       mode=mode or conv.mode, clinic_id=clinic_id or conv.clinic_id)
            s.add(t)
            s.flush()
            return t.id

    def tickets(self, status: Optional[List[str]] = None,
                clinic_id: Optional[str] = None) -> List[Ticket]:
        """Open work first: most urgent, then longest waiting."""
        with self.session() as s:
            q = select(Ticket)
            if status:
                q = q.where(Ticket.status.in_(status))
            if clinic_id is not None:
                q = q.where(Ticket.clinic_id == clinic_id)
            return list(s.scalars(q.order_by(Ticket.urgency_rank, Ticket.created_at)))

    def ticket(self, ticket_id: int) -> Optional[Ticket]:
        with self.session() as s:
            t = s.get(Ticket, ticket_id)
            if t is not None:
                list(t.messages)  # load while the session is open
            return t

    def claim(self, ticket_id: int, username: str) -> Ticket:
        with self.session() as s:
            t = s.get(Ticket, ticket_id)
            if t is None:
                raise KeyError(ticket_id)
            if t.status == "resolved":
                raise ValueError("this case is resolved")
            t.status, t.claimed_by, t.claimed_at = "claimed", username, _now()
            return t

    def add_staff_message(self, ticket_id: int, author: str, kind: str, text: str) -> StaffMessage:
        if kind not in ("reply", "note"):
            raise ValueError("kind must be reply or note")
        with self.session() as s:
            if s.get(Ticket, ticket_id) is None:
                raise KeyError(ticket_id)
            m = StaffMessage(ticket_id=ticket_id, author=author, kind=kind, text=text)
            s.add(m)
            s.flush()
            return m

    def close_ticket(self, ticket_id: int, resolved: bool) -> Ticket:
        """Resolve the case, or hand the chat back to the assistant (ticket stays for the record)."""
        with self.session() as s:
            t = s.get(Ticket, ticket_id)
            if t is None:
                raise KeyError(ticket_id)
            t.status, t.resolved_at = "resolved", _now()
            conv = s.get(Conversation, t.conversation_id)
            if conv is not None:
                conv.status = "closed" if resolved else "bot"
            return t

    # --- staff and audit -------------------------------------------------------------
    def create_user(self, username: str, role: str, display_name: Optional[str] = None,
                    password: Optional[str] = None, clinic_id: Optional[str] = None,
                    token: Optional[str] = None) -> str:
        """Creates (or updates) a staff account; returns its API token."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}")
        token = token or secrets.token_urlsafe(24)
        with self.session() as s:
            u = s.scalars(select(StaffUser).where(StaffUser.username == username)).first()
            if u is None:
                u = StaffUser(username=username)
                s.add(u)
            u.display_name, u.role, u.clinic_id = display_name or username, role, clinic_id
            u.token_hash = _token_digest(token)
            if password:
                u.password_hash = _hash(password)
        return token

    def user_by_token(self, token: str) -> Optional[StaffUser]:
        if not token:
            return None
        with self.session() as s:
            return s.scalars(select(StaffUser)
                             .where(StaffUser.token_hash == _token_digest(token))).first()

    def user(self, username: str) -> Optional[StaffUser]:
        with self.session() as s:
            return s.scalars(select(StaffUser).where(StaffUser.username == username)).first()

    def users(self) -> List[StaffUser]:
        with self.session() as s:
            return list(s.scalars(select(StaffUser).order_by(StaffUser.username)))

    def user_by_password(self, username: str, password: str) -> Optional[StaffUser]:
        with self.session() as s:
            u = s.scalars(select(StaffUser).where(StaffUser.username == username)).first()
        return u if u is not None and _check(password, u.password_hash) else None

    def audit(self, actor: str, action: str, target_type: str, target_id: Any) -> None:
        with self.session() as s:
            s.add(AuditEntry(actor=actor, action=action, target_type=target_type,
                             target_id=str(target_id)))

    def audit_log(self, limit: int = 200) -> List[AuditEntry]:
        with self.session() as s:
            return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)))

    # --- privacy ---------------------------------------------------------------------
    def delete_conversation(self, cid: str, actor: str = "person") -> None:
        """Erase everything about one conversation, Rasa's tracker events included."""
        with self.session() as s:
            ticket_ids = list(s.scalars(select(Ticket.id).where(Ticket.conversation_id == cid)))
            if ticket_ids:
                s.execute(delete(StaffMessage).where(StaffMessage.ticket_id.in_(ticket_ids)))
            for model in (Ticket, Assessment, ConsentRecord):
                s.execute(delete(model).where(model.conversation_id == cid))
            s.execute(delete(intakes).where(intakes.c.conversation_id == cid))
            s.execute(delete(Conversation).where(Conversation.id == cid))
            if "events" in inspect(s.connection()).get_table_names():
                events = Table("events", MetaData(), autoload_with=s.connection())
                s.execute(delete(events).where(events.c.sender_id == cid))
            # a keyed hash: the id may be a phone number, which a plain hash would give away
            s.add(AuditEntry(actor=actor, action="deleted", target_type="conversation",
                             target_id=conversation_ref(cid)))

    def purge_older_than(self, days: int) -> int:
        """Erase conversations not updated for `days` days; returns how many."""
        cutoff = _now() - dt.timedelta(days=days)
        with self.session() as s:
            old = list(s.scalars(select(Conversation.id).where(Conversation.updated_at < cutoff)))
            stale_trackers: List[str] = []
            if "events" in inspect(s.connection()).get_table_names():
                events = Table("events", MetaData(), autoload_with=s.connection())
                cutoff_ts = (cutoff - dt.datetime(1970, 1, 1)).total_seconds()
                last = (select(events.c.sender_id).group_by(events.c.sender_id)
                        .having(func.max(events.c.timestamp) < cutoff_ts))
                stale_trackers = list(s.scalars(last))
        ids = sorted(set(old) | set(stale_trackers))
        for cid in ids:
            self.delete_conversation(cid, actor="retention")
        return len(ids)


_default: Optional[Store] = None


def default_store() -> Store:
    global _default
    if _default is None:
        _default = Store()
    return _default


def main(argv: Optional[List[str]] = None) -> int:
    """python -m actions.storage {migrate | purge --days N | create-user NAME ROLE ...}"""
    import argparse
    ap = argparse.ArgumentParser(prog="python -m actions.storage")
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("migrate", help="apply the schema migrations (Alembic) to DATABASE_URL")
    p = sub.add_parser("purge", help="erase conversations older than N days (retention)")
    p.add_argument("--days", type=int,
                   default=int(os.environ.get("RETENTION_DAYS", "90")))
    u = sub.add_parser("create-user", help="create or update a staff account; prints its token")
    u.add_argument("username")
    u.add_argument("role", choices=ROLES)
    u.add_argument("--password")
    u.add_argument("--clinic")
    u.add_argument("--name")
    args = ap.parse_args(argv)
    store = Store()
    if args.cmd == "migrate":
        store.migrate()
        print(f"schema up to date ({store.url.split('@')[-1]})")
    elif args.cmd == "purge":
        if args.days < 1:
            ap.error("--days must be at least 1")
        print(f"purged {store.purge_older_than(args.days)} conversations older than {args.days} days")
    else:
        from inbox.passwords import password_problem
        problem = args.password and password_problem(args.password, args.username)
        if problem:
            ap.error(f"--password: {problem}")
        print(store.create_user(args.username, args.role, args.name, args.password, args.clinic))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
