"""The command-line contract of issue 2, through the real ``tisa`` entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCENARIO = str(ROOT / "scenarios" / "korea-japan-2019.toml")


def tisa(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tisa", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def route(*args: str) -> dict[str, object]:
    done = tisa("route", SCENARIO, "--from", "KOR", "--to", "JPN", "--json", *args)
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_check_bundled_scenario() -> None:
    done = tisa("network", "check", SCENARIO)
    assert done.returncode == 0
    assert done.stdout.startswith("ok: ")
    assert "3 parties, 4 agreements, 3 events" in done.stdout


def test_check_reports_every_problem_and_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        Path(SCENARIO)
        .read_text(encoding="utf-8")
        .replace('hub = "USA"', 'hub = "CHN"')
        .replace('notice = "P90D"', 'notice = "90 days"'),
        encoding="utf-8",
    )
    done = tisa("network", "check", str(bad))
    assert done.returncode == 2
    assert "agreement tisa: hub: 'CHN' is not a member" in done.stderr
    assert "agreement kor-jpn-gsomia: notice: '90 days' is not an ISO 8601 duration" in done.stderr
    assert "Traceback" not in done.stderr


def test_check_syntax_error_has_line_number(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\n\n[parties.KOR\n', encoding="utf-8")
    done = tisa("network", "check", str(bad))
    assert done.returncode == 2 and "line 3" in done.stderr


def test_status_json_contract() -> None:
    done = tisa("network", "status", SCENARIO, "--on", "2019-09-15", "--json")
    assert done.returncode == 0
    rows = json.loads(done.stdout)
    assert all(set(row) == {"agreement", "state", "ends_on", "reason"} for row in rows)
    by_id = {row["agreement"]: row for row in rows}
    assert by_id["kor-jpn-gsomia"]["state"] == "notice-given"
    assert by_id["kor-jpn-gsomia"]["ends_on"] == "2019-11-23"
    assert by_id["tisa"]["state"] == "in-force" and by_id["tisa"]["ends_on"] is None


@pytest.mark.parametrize(
    ("day", "state"),
    [
        ("2016-11-22", "pending"),
        ("2019-11-21", "notice-given"),
        ("2019-11-22", "notice-suspended"),
        ("2023-03-21", "in-force"),
    ],
)
def test_status_states_over_the_timeline(day: str, state: str) -> None:
    rows = json.loads(tisa("network", "status", SCENARIO, "--on", day, "--json").stdout)
    assert {r["agreement"]: r["state"] for r in rows}["kor-jpn-gsomia"] == state


def test_status_table_for_people() -> None:
    done = tisa("network", "status", SCENARIO, "--on", "2019-09-15")
    assert done.returncode == 0
    assert "kor-jpn-gsomia" in done.stdout and "notice-given" in done.stdout


def test_route_json_is_exactly_the_contract_object() -> None:
    result = route("--level", "SECRET", "--topic", "nk-missile", "--on", "2017-05-14")
    assert list(result) == ["decision", "path", "agreements", "consent_from", "marking", "reasons"]
    assert result["decision"] == "direct"
    assert result["path"] == ["KOR", "JPN"]
    assert result["marking"] == {"level": "極秘", "originator": "KOR"}


def test_route_with_native_level_and_deny_shape() -> None:
    result = route("--level", "군사Ⅰ급비밀", "--topic", "nk-missile", "--on", "2017-05-14")
    assert result["decision"] == "deny"
    assert result["path"] == [] and result["consent_from"] == [] and result["marking"] is None


def test_route_onward_with_holder_and_rel_to() -> None:
    done = tisa(
        "route",
        SCENARIO,
        "--from",
        "KOR",
        "--to",
        "USA",
        "--holder",
        "JPN",
        "--level",
        "SECRET",
        "--topic",
        "nk-missile",
        "--rel-to",
        "USA",
        "--rel-to",
        "JPN",
        "--on",
        "2017-05-14",
        "--json",
    )
    result = json.loads(done.stdout)
    assert result["decision"] == "direct" and result["consent_from"] == ["KOR"]


def test_route_with_node_policy_file(tmp_path: Path) -> None:
    policy = tmp_path / "local.cedar"
    policy.write_text(
        '@id("no-missile-items")\nforbid (principal, action, resource) when '
        '{ context.topics.contains("nk-missile") };\n',
        encoding="utf-8",
    )
    result = route(
        "--level", "SECRET", "--topic", "nk-missile", "--on", "2017-05-14", "--policy", str(policy)
    )
    assert result["decision"] == "deny"
    assert "no-missile-items" in " ".join(result["reasons"])  # type: ignore[arg-type]
    policy.write_text('@id("p") permit (principal, action, resource);', encoding="utf-8")
    done = tisa(
        "route",
        SCENARIO,
        "--from",
        "KOR",
        "--to",
        "JPN",
        "--level",
        "SECRET",
        "--topic",
        "nk-missile",
        "--on",
        "2017-05-14",
        "--policy",
        str(policy),
    )
    assert done.returncode == 2 and "may only 'forbid'" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--level", "SECRET", "--topic", "x", "--on", "2019-13-01"], "is not a date"),
        (["--level", "SEKRIT", "--topic", "x", "--on", "2019-01-01"], "unknown level"),
        (
            ["--level", "SECRET", "--topic", "x", "--on", "2019-01-01", "--holder", "CHN"],
            "unknown party 'CHN'",
        ),
    ],
)
def test_route_bad_input_exits_2_with_a_message(args: list[str], message: str) -> None:
    done = tisa("route", SCENARIO, "--from", "KOR", "--to", "JPN", *args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_route_missing_file_exits_2() -> None:
    done = tisa(
        "route",
        "/nonexistent.toml",
        "--from",
        "KOR",
        "--to",
        "JPN",
        "--level",
        "SECRET",
        "--topic",
        "x",
        "--on",
        "2019-01-01",
    )
    assert done.returncode == 2 and "not found" in done.stderr


def test_demo_tells_the_story() -> None:
    done = tisa("demo", SCENARIO)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "KOR → USA → JPN" in out  # the relay in the world without the suspension
    assert out.count("deny") >= 3 and out.count("direct") >= 5
    assert "2019-11-25" in out and "what if" in out
