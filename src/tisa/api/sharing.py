"""The node's view of its network, and the one call into the route engine.

``decide_share`` is the seam between the TAXII service and the foundation's ``Router``:
an item this node originated, marked with an ``ItemMarking``, to one recipient, today.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from tisa.config import load_network
from tisa.errors import ConfigError, InvalidInput
from tisa.model.item_marking import ItemMarking
from tisa.model.network import Network
from tisa.model.route import RouteDecision, RouteKind, RouteRequest
from tisa.policy.router import Router


@dataclass(frozen=True, kw_only=True)
class NodeNetwork:
    """This node's party in its network, with the router that decides its shares."""

    party: str
    network: Network
    router: Router = field(compare=False, repr=False)

    @property
    def parties(self) -> tuple[str, ...]:
        return tuple(sorted(self.network.parties))

    @property
    def peers(self) -> tuple[str, ...]:
        return tuple(p for p in self.parties if p != self.party)

    @property
    def native_levels(self) -> dict[str, str]:
        """This node's party's native level names -> reference names."""
        party = self.network.party(self.party)
        return {} if party is None else {n: r for r, n in party.levels.items()}

    def resolve_level(self, name: str, originator: str) -> str | None:
        """A level name of the originator's, or (for items this node received and
        re-marked, Art. 4) of this node's own party."""
        for code in (originator, self.party):
            party = self.network.party(code)
            if party is not None and (level := party.reference_level(name)) is not None:
                return level
        return None


def load_node_network(path: Path, party: str) -> NodeNetwork:
    network = load_network(path)
    if network.party(party) is None:
        raise ConfigError(
            f"{path}: this node's party {party} is not in the network "
            f"(parties: {', '.join(sorted(network.parties))})"
        )
    return NodeNetwork(party=party, network=network, router=Router(network))


def decide_share(
    network: NodeNetwork, marking: ItemMarking, recipient: str, on: date
) -> RouteDecision:
    """May this node send an item it originated (or, onward, one it received) to
    ``recipient`` on ``on``, and how? A question the router cannot even ask (unknown
    party, no topics) is a deny."""
    request = RouteRequest(
        holder=None if marking.originator == network.party else network.party,
        originator=marking.originator,
        recipient=recipient,
        level=marking.level,
        topics=tuple(sorted(marking.topics)),
        on=on,
        rel_to=None if marking.releasable_to is None else tuple(sorted(marking.releasable_to)),
    )
    try:
        return network.router.decide(request)
    except InvalidInput as exc:
        return RouteDecision(
            decision=RouteKind.DENY,
            path=(),
            agreements=(),
            consent_from=(),
            marking=None,
            reasons=(exc.diagnostics(),),
        )
