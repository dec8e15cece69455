"""Route decision latency: the bundled scenario and a generated 200-party, 5,000-agreement
network. A benchmark, not a test: prints a Markdown table for docs/benchmarks.md.

    .venv/bin/python benchmarks/route_bench.py [--runs 5] [--routes 2000]
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import time
from datetime import date, timedelta
from pathlib import Path

from tisa.config import load_network
from tisa.model.durations import parse_duration
from tisa.model.network import (
    Agreement,
    AgreementEvent,
    AgreementId,
    AgreementKind,
    EventKind,
    Network,
    Party,
    PartyCode,
    Scope,
)
from tisa.model.route import RouteKind, RouteRequest
from tisa.policy.router import Router

ROOT = Path(__file__).resolve().parents[1]
LEVELS = {"CONFIDENTIAL": "C", "SECRET": "S", "TOP SECRET": "TS"}
TOPICS = [f"topic-{i}" for i in range(20)]


def generated_network(parties: int = 200, agreements: int = 5000, seed: int = 7) -> Network:
    rng = random.Random(seed)
    codes = [f"P{i:03d}" for i in range(parties)]
    hubs = codes[:10]
    found: dict[str, Agreement] = {}
    for n in range(agreements):
        relay = n % 25 == 0
        if relay:
            hub = rng.choice(hubs)
            members = tuple({hub, *rng.sample(codes, rng.randint(3, 12))})
        else:
            # Hubs hold many bilaterals (as the US does), so relays have legs to use.
            members = tuple(rng.sample(codes, 2))
            if rng.random() < 0.4:
                first = rng.choice(hubs)
                members = (first, rng.choice([c for c in codes if c != first]))
            hub = None
        in_force = date(2000, 1, 1) + timedelta(days=rng.randint(0, 7000))
        events: tuple[AgreementEvent, ...] = ()
        if rng.random() < 0.3:
            events = (
                AgreementEvent(
                    on=in_force + timedelta(days=rng.randint(1, 5000)),
                    kind=EventKind.TERMINATION_NOTICE,
                    by=PartyCode(members[0]),
                ),
            )
        topics = frozenset({"*"}) if rng.random() < 0.5 else frozenset(rng.sample(TOPICS, 5))
        agreement_id = f"ag-{n:05d}"
        found[agreement_id] = Agreement(
            id=AgreementId(agreement_id),
            kind=AgreementKind.RELAY if relay else AgreementKind.BILATERAL,
            parties=tuple(PartyCode(m) for m in members),
            scope=Scope(max_level=rng.choice(list(LEVELS)), topics=topics),
            in_force=in_force,
            hub=PartyCode(hub) if hub else None,
            term=parse_duration("P1Y") if rng.random() < 0.5 else None,
            notice=parse_duration("P90D"),
            events=events,
        )
    return Network(
        name="generated",
        parties={c: Party(code=PartyCode(c), name=c, levels=LEVELS) for c in codes},
        agreements=found,
    )


def requests(network: Network, count: int, seed: int) -> list[RouteRequest]:
    rng = random.Random(seed)
    codes = sorted(network.parties)
    topics = sorted({t for a in network.agreements.values() for t in a.scope.topics} - {"*"})
    topics = topics or ["nk-missile"]
    agreements = [network.agreements[i] for i in sorted(network.agreements)]
    out = []
    for _ in range(count):
        # Ask about parties that share an agreement (what a node is asked in practice),
        # so most questions reach the policy engine instead of failing on a lookup.
        agreement = rng.choice(agreements)
        members = [p for p in agreement.parties if p != agreement.hub] or list(codes)
        if len(members) < 2:
            members = codes
        originator, recipient = rng.sample(members, 2)
        out.append(
            RouteRequest(
                originator=originator,
                recipient=recipient,
                level=rng.choice(["CONFIDENTIAL", "SECRET", "TOP SECRET"]),
                topics=(rng.choice(topics),),
                on=date(2014, 1, 1) + timedelta(days=rng.randint(0, 3650)),
            )
        )
    return out


def measure(router: Router, batch: list[RouteRequest]) -> tuple[list[float], dict[str, int]]:
    timings = []
    kinds = {k.value: 0 for k in RouteKind}
    for request in batch:
        start = time.perf_counter_ns()
        decision = router.decide(request)
        timings.append((time.perf_counter_ns() - start) / 1e6)
        kinds[decision.decision.value] += 1
    return timings, kinds


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--routes", type=int, default=2000)
    args = parser.parse_args()
    scenario = load_network(ROOT / "scenarios" / "korea-japan-2019.toml")
    started = time.perf_counter()
    large = generated_network()
    built = time.perf_counter() - started
    print(
        f"# {platform.processor() or platform.machine()}, {date.today()}, "
        f"python {platform.python_version()}; generated network built in {built:.2f} s"
    )
    print(
        "| network | routes/run | runs | p50 ms (median of runs) | p99 ms (median of runs) "
        "| direct/relay/deny |"
    )
    print("|---|---|---|---|---|---|")
    for name, network in (("bundled scenario", scenario), ("200 parties, 5,000 agreements", large)):
        p50s, p99s = [], []
        kinds: dict[str, int] = {}
        for run in range(args.runs):
            router = Router(network)  # a fresh router: no warm lifecycle cache across runs
            timings, kinds = measure(router, requests(network, args.routes, seed=run))
            p50s.append(percentile(timings, 0.50))
            p99s.append(percentile(timings, 0.99))
        mix = "/".join(str(kinds[k.value]) for k in RouteKind)
        print(
            f"| {name} | {args.routes} | {args.runs} | {statistics.median(p50s):.3f} "
            f"| {statistics.median(p99s):.3f} | {mix} |"
        )


if __name__ == "__main__":
    main()
