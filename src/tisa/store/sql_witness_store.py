"""What a node remembers about other parties' logs, on SQLite or PostgreSQL.

* as a witness: the latest checkpoint it cosigned per origin, updated only by
  compare-and-swap (the tlog-witness rollback race: two concurrent requests must
  not both advance from the same state);
* as an auditor: the latest checkpoint of each peer that ``tisa audit`` accepted.
"""

from __future__ import annotations

import time

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError as SqlIntegrityError

from tisa.ledger.checkpoint import Checkpoint, parse_checkpoint_text
from tisa.ledger.note import parse_note
from tisa.ledger.witness import WitnessState
from tisa.store import ledger_tables as lt

__all__ = ["SqlWitnessStore"]


def _now_us() -> int:
    return time.time_ns() // 1000


class SqlWitnessStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- witness role ------------------------------------------------------------------

    def witness_state(self, origin: str) -> WitnessState | None:
        with self.engine.connect() as c:
            row = c.execute(
                select(lt.witness_state.c.size, lt.witness_state.c.root_hash)
                .where(lt.witness_state.c.origin == origin)
            ).first()
        return None if row is None else WitnessState(size=int(row[0]), root_hash=bytes(row[1]))

    def swap_witness_state(
        self, origin: str, previous: WitnessState | None, new: WitnessState
    ) -> bool:
        """Store ``new`` only if the stored state is still ``previous``; report whether it did."""
        try:
            with self.engine.begin() as c:
                if previous is None:
                    c.execute(insert(lt.witness_state).values(
                        origin=origin, size=new.size, root_hash=new.root_hash,
                        updated_us=_now_us()))
                    return True
                result = c.execute(
                    update(lt.witness_state)
                    .where(lt.witness_state.c.origin == origin,
                           lt.witness_state.c.size == previous.size,
                           lt.witness_state.c.root_hash == previous.root_hash)
                    .values(size=new.size, root_hash=new.root_hash, updated_us=_now_us())
                )
                return result.rowcount == 1
        except SqlIntegrityError:
            return False  # another request created the row first

    # -- auditor role ------------------------------------------------------------------

    def peer_checkpoint(self, party: str) -> tuple[Checkpoint, bytes] | None:
        """The last accepted checkpoint of ``party`` and its note."""
        with self.engine.connect() as c:
            row = c.execute(
                select(lt.peer_checkpoints.c.note).where(lt.peer_checkpoints.c.party == party)
            ).first()
        if row is None:
            return None
        note = bytes(row[0])
        return parse_checkpoint_text(parse_note(note).text), note

    def save_peer_checkpoint(self, party: str, checkpoint: Checkpoint, note: bytes) -> None:
        with self.engine.begin() as c:
            values = {"size": checkpoint.size, "root_hash": checkpoint.root_hash, "note": note,
                      "seen_us": _now_us()}
            done = c.execute(update(lt.peer_checkpoints)
                             .where(lt.peer_checkpoints.c.party == party).values(**values))
            if done.rowcount == 0:
                c.execute(insert(lt.peer_checkpoints).values(party=party, **values))
