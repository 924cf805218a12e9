"""A smoke run of the benchmark harness (`python -m benchmarks.bench --smoke`), so that it
cannot rot: every scenario runs for about a second and must produce numbers or say why it
was skipped, and the Markdown report must be written. Results go to a temporary directory;
benchmarks/RESULTS.md is left alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.bench

ROOT = Path(__file__).resolve().parents[2]
BENCH = [sys.executable, "-m", "benchmarks.bench"]
SCENARIOS = {
    "direct-flavors",
    "direct-servers",
    "direct-objects",
    "direct-create",
    "nginx-flavors",
    "forwarder-flavors",
    "proxy-flavors",
    "proxy-instances",
    "proxy-objects",
    "proxy-create",
    "proxy-flavors-2-workers",
    "half-proxy-flavors",
    "half-direct-flavors",
    "half-forwarder-flavors",
    "unloaded-proxy-instances",
    "unloaded-direct-servers",
    "unloaded-proxy-objects",
    "unloaded-direct-objects",
    "mix-emulator",
}


def test_smoke_run_measures_every_scenario(tmp_path: Path) -> None:
    done = subprocess.run(
        # two runs of the headline rows, so that keeping the median run is exercised too
        [*BENCH, "--smoke", "--repeats", "2", "--output", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    document = json.loads((tmp_path / "results.json").read_text())
    records = {record["id"]: record for record in document["scenarios"]}
    assert set(records) == SCENARIOS
    for scenario_id, record in records.items():
        if record["status"] == "skipped":
            assert record["reason"], scenario_id
            continue
        assert record["status"] == "ok", (scenario_id, record.get("reason"))
        assert record["requests"] > 0, scenario_id
        assert record["rps"] > 0, scenario_id
        latency = record["latency_ms"]
        assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"], (scenario_id, latency)
        assert record["errors"]["total"] == 0, (scenario_id, record["errors"])
        assert record["cpu_ms_per_request"] is not None, scenario_id
        assert record["peak_rss_mb"] > 0, scenario_id
    # the translated routes and the latency runs always run: only nginx and --workers may skip
    assert {key for key, record in records.items() if record["status"] == "skipped"} <= {
        "nginx-flavors",
        "proxy-flavors-2-workers",
    }
    assert len(records["proxy-flavors"]["runs_rps"]) == 2
    assert "median of 2 runs" in (tmp_path / "RESULTS.md").read_text()
    assert document["startups"] and all(entry["seconds"] > 0 for entry in document["startups"])
    targets = document["derived"]["targets"]
    assert len(targets) == 9
    assert all(item["status"] in {"met", "not met", "not measured"} for item in targets)

    markdown = (tmp_path / "RESULTS.md").read_text()
    assert "| # | scenario | measured process |" in markdown
    for record in records.values():
        assert f"| {record['title']} |" in markdown
    for section in ("## Machine", "## Ratios", "## Added latency", "## Targets", "## Profile"):
        assert section in markdown
