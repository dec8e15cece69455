"""Counterfactual networks for exercises: the same agreements with some events undone."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from tisa.errors import NotFound
from tisa.model.network import Network


def without_events_from(network: Network, agreement_id: str, day: date) -> Network:
    """The network as if ``agreement_id`` had no events on or after ``day``."""
    agreement = network.agreements.get(agreement_id)
    if agreement is None:
        raise NotFound(f"agreement {agreement_id!r} is not in the network")
    kept = tuple(e for e in agreement.events if e.on < day)
    agreements = dict(network.agreements)
    agreements[agreement_id] = replace(agreement, events=kept)
    return Network(name=network.name, parties=network.parties, agreements=agreements)
