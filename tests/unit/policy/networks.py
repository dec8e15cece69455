"""Small networks for routing tests, written as network files."""

from __future__ import annotations

from tisa.agreements.network_file import parse_network
from tisa.model.network import Network

PARTIES = """
name = "routing test"
[parties.KOR]
name = "Korea"
levels = { CONFIDENTIAL = "k3", SECRET = "k2", "TOP SECRET" = "k1" }
[parties.JPN]
name = "Japan"
levels = { CONFIDENTIAL = "j3", SECRET = "j2", "TOP SECRET" = "j1" }
[parties.USA]
name = "United States"
levels = { CONFIDENTIAL = "CONFIDENTIAL", SECRET = "SECRET", "TOP SECRET" = "TOP SECRET" }
[parties.AUS]
name = "Australia"
levels = { CONFIDENTIAL = "a3", SECRET = "a2" }
"""


def bilateral(
    agreement_id: str,
    a: str,
    b: str,
    *,
    max_level: str = "TOP SECRET",
    topics: str = '["*"]',
    in_force: str = "2000-01-01",
    extra: str = "",
) -> str:
    return (
        f'[agreements.{agreement_id}]\nkind = "bilateral"\nparties = ["{a}", "{b}"]\n'
        f'max_level = "{max_level}"\ntopics = {topics}\nin_force = {in_force}\n{extra}\n'
    )


def relay(
    agreement_id: str,
    hub: str,
    members: list[str],
    *,
    max_level: str = "SECRET",
    topics: str = '["nk-nuclear", "nk-missile"]',
    in_force: str = "2000-01-01",
    extra: str = "",
) -> str:
    quoted = ", ".join(f'"{m}"' for m in members)
    return (
        f'[agreements.{agreement_id}]\nkind = "relay"\nhub = "{hub}"\nparties = [{quoted}]\n'
        f'max_level = "{max_level}"\ntopics = {topics}\nin_force = {in_force}\n{extra}\n'
    )


def network(*agreements: str) -> Network:
    return parse_network(PARTIES + "\n".join(agreements))


#: Korea–Japan direct until 2019-01-01 (notice, no term: ends that day), a relay through
#: the US, and Japan–Australia.
def world() -> Network:
    return network(
        bilateral(
            "kor-jpn",
            "KOR",
            "JPN",
            max_level="SECRET",
            extra="[[agreements.kor-jpn.events]]\ndate = 2019-01-01\n"
            'event = "termination-notice"\nby = "KOR"\n',
        ),
        bilateral("us-kor", "USA", "KOR"),
        bilateral("us-jpn", "USA", "JPN"),
        bilateral("jpn-aus", "JPN", "AUS", max_level="SECRET"),
        relay("tisa", "USA", ["USA", "KOR", "JPN"]),
    )
