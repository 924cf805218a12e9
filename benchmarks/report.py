"""RESULTS.md and results.json from one benchmark run: the table, the ratios, the added
latency and where each target of the issue stands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# the targets
FLAVORS_RPS = 3000
NGINX_SHARE = 0.35
ADDED_P50_MS = 0.5
ADDED_P99_MS = 2.0
WORKERS_SPEEDUP = 1.7
LISTING_ADDED_MS = 30.0
LISTING_RSS_MB = 100.0
STARTUP_S = 1.0


def _ok(record: dict[str, Any] | None) -> bool:
    return bool(record) and record.get("status") == "ok" and bool(record.get("requests"))


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def derive_streaming(transfers: list[dict[str, Any]]) -> dict[str, Any]:
    """Per direction: MB/s through the proxy over MB/s direct; and the proxy's peak RSS
    over all its transfers."""
    speed = {
        (record["direction"], record["via"]): record["mb_per_s"]
        for record in transfers
        if record.get("status") == "ok"
    }
    proxy_rss = [
        record["peak_rss_mb"]
        for record in transfers
        if record.get("status") == "ok" and record["via"] == "nhn-proxy"
    ]
    return {
        "upload_proxy_over_direct": _ratio(
            speed.get(("upload", "nhn-proxy")), speed.get(("upload", "direct"))
        ),
        "download_proxy_over_direct": _ratio(
            speed.get(("download", "nhn-proxy")), speed.get(("download", "direct"))
        ),
        "proxy_peak_rss_mb": max(proxy_rss) if proxy_rss else None,
    }


def derive(document: dict[str, Any]) -> dict[str, Any]:
    """Ratios, added latency and targets, from the scenario records."""
    by_id = {record["id"]: record for record in document["scenarios"]}

    def rps(scenario_id: str) -> float | None:
        record = by_id.get(scenario_id)
        return record["rps"] if _ok(record) else None

    def latency(scenario_id: str, key: str) -> float | None:
        record = by_id.get(scenario_id)
        return record["latency_ms"][key] if _ok(record) else None

    def added(proxy_id: str, direct_id: str) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for key in ("p50", "p90", "p99"):
            proxy, direct = latency(proxy_id, key), latency(direct_id, key)
            if proxy is not None and direct is not None:
                out[key] = round(proxy - direct, 3)
            else:
                out[key] = None
        return out

    ratios = {
        "flavors_proxy_over_direct": _ratio(rps("proxy-flavors"), rps("direct-flavors")),
        "flavors_proxy_over_nginx": _ratio(rps("proxy-flavors"), rps("nginx-flavors")),
        "flavors_nginx_over_direct": _ratio(rps("nginx-flavors"), rps("direct-flavors")),
        "flavors_proxy_over_forwarder": _ratio(rps("proxy-flavors"), rps("forwarder-flavors")),
        "forwarder_over_nginx": _ratio(rps("forwarder-flavors"), rps("nginx-flavors")),
        "instances_proxy_over_direct": _ratio(rps("proxy-instances"), rps("direct-servers")),
        "objects_proxy_over_direct": _ratio(rps("proxy-objects"), rps("direct-objects")),
        "create_proxy_over_direct": _ratio(rps("proxy-create"), rps("direct-create")),
        "two_workers_over_one": _ratio(rps("proxy-flavors-2-workers"), rps("proxy-flavors")),
    }
    cpu = {
        record["id"]: record.get("cpu_ms_per_request")
        for record in document["scenarios"]
        if _ok(record)
    }
    added_latency = {
        "flavors_at_half_rate": added("half-proxy-flavors", "half-direct-flavors"),
        "forwarder_at_half_rate": added("half-forwarder-flavors", "half-direct-flavors"),
        "instances_unloaded": added("unloaded-proxy-instances", "unloaded-direct-servers"),
        "objects_unloaded": added("unloaded-proxy-objects", "unloaded-direct-objects"),
    }
    listing_runs = [
        by_id[key]
        for key in (
            "proxy-instances",
            "proxy-objects",
            "unloaded-proxy-instances",
            "unloaded-proxy-objects",
        )
        if _ok(by_id.get(key))
    ]
    highest = max(listing_runs, key=lambda record: record["peak_rss_mb"], default=None)
    startups = [entry["seconds"] for entry in document.get("startups", [])]
    targets = []

    def target(
        name: str,
        value: float | None,
        limit: float,
        unit: str,
        *,
        most: bool,
        how: str,
        missing: str = "not measured (the scenario did not run)",
    ) -> None:
        if value is None:
            targets.append(
                {"target": name, "value": None, "status": "not measured", "detail": missing}
            )
            return
        met = value <= limit if most else value >= limit
        targets.append(
            {
                "target": name,
                "value": value,
                "limit": limit,
                "unit": unit,
                "status": "met" if met else "not met",
                "detail": how,
            }
        )

    target(
        f"1 worker, GET compute/flavors/ ≥ {FLAVORS_RPS:,} req/s on one core",
        round(rps("proxy-flavors"), 0) if rps("proxy-flavors") else None,
        FLAVORS_RPS, "req/s", most=False, how="scenario proxy-flavors",
    )  # fmt: skip
    share = ratios["flavors_proxy_over_nginx"]
    target(
        f"1 worker, flavors ≥ {NGINX_SHARE:.0%} of nginx pass-through (same core, same run)",
        share, NGINX_SHARE, "x nginx", most=False,
        how="proxy-flavors req/s / nginx-flavors req/s",
        missing="not measured: no nginx pass-through result (nginx missing or failed)",
    )  # fmt: skip
    half = added_latency["flavors_at_half_rate"]
    target(
        f"added latency p50 ≤ {ADDED_P50_MS} ms at half of max throughput",
        half["p50"], ADDED_P50_MS, "ms", most=True,
        how="half-proxy-flavors p50 - half-direct-flavors p50",
    )  # fmt: skip
    target(
        f"added latency p99 ≤ {ADDED_P99_MS} ms at half of max throughput",
        half["p99"], ADDED_P99_MS, "ms", most=True,
        how="half-proxy-flavors p99 - half-direct-flavors p99",
    )  # fmt: skip
    two = by_id.get("proxy-flavors-2-workers")
    target(
        f"2 workers ≥ {WORKERS_SPEEDUP}x one worker",
        ratios["two_workers_over_one"], WORKERS_SPEEDUP, "x", most=False,
        how="proxy-flavors-2-workers req/s / proxy-flavors req/s",
        missing=(two or {}).get("reason") or "not measured",
    )  # fmt: skip
    target(
        f"10,000-object listing: added latency ≤ {LISTING_ADDED_MS:.0f} ms",
        added_latency["objects_unloaded"]["p50"], LISTING_ADDED_MS, "ms", most=True,
        how="p50 at 1 connection, unloaded-proxy-objects - unloaded-direct-objects "
        f"(p99: {added_latency['objects_unloaded']['p99']} ms)",
    )  # fmt: skip
    target(
        f"1,000-server listing: added latency ≤ {LISTING_ADDED_MS:.0f} ms",
        added_latency["instances_unloaded"]["p50"], LISTING_ADDED_MS, "ms", most=True,
        how="p50 at 1 connection, unloaded-proxy-instances - unloaded-direct-servers "
        f"(p99: {added_latency['instances_unloaded']['p99']} ms)",
    )  # fmt: skip
    target(
        f"listings: proxy RSS ≤ {LISTING_RSS_MB:.0f} MB during the run",
        highest["peak_rss_mb"] if highest else None, LISTING_RSS_MB, "MB", most=True,
        how="highest peak RSS of the listing scenarios: "
        + (
            f"{highest['id']} at {highest['connections']} connections ("
            + ", ".join(f"{record['id']} {record['peak_rss_mb']:.0f} MB" for record in listing_runs)
            + ")"
            if highest
            else ""
        ),
    )  # fmt: skip
    target(
        f"start-up to first served request ≤ {STARTUP_S:.0f} s",
        max(startups) if startups else None, STARTUP_S, "s", most=True,
        how=f"worst of {len(startups)} starts (spawn → first 2xx answer of a translated route)",
    )  # fmt: skip
    return {
        "ratios": ratios,
        "cpu_ms_per_request": cpu,
        "added_latency_ms": added_latency,
        "streaming": derive_streaming(document.get("transfers", [])),
        "targets": targets,
    }


# ----------------------------------------------------------------------------- markdown


def _num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _table(document: dict[str, Any]) -> list[str]:
    lines = [
        "| # | scenario | measured process | conns | req/s | p50 ms | p90 ms | p99 ms "
        "| CPU ms/req | peak RSS MB | errors | notes |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    ordered = sorted(document["scenarios"], key=lambda record: int(record["group"].split(".")[0]))
    for record in ordered:  # by group, in the order of the run within a group
        group = record["group"].split(".")[0]
        if record.get("status") != "ok":
            lines.append(
                f"| {group} | {record['title']} | {record['measured']} | | | | | | | | | "
                f"**{record['status']}**: {record.get('reason', '')} |"
            )
            continue
        latency = record["latency_ms"]
        notes = []
        if record.get("delay_ms"):
            notes.append(
                f"rate-limited: random pause of mean {record['delay_ms']} ms per connection, "
                f"{record.get('fraction_of_proxy_max', 0):.0%} of the proxy's max"
            )
        if record.get("runs_rps"):
            runs = ", ".join(_num(value, 0) for value in record["runs_rps"])
            notes.append(f"median of {len(record['runs_rps'])} runs ({runs} req/s)")
        if record.get("reason"):
            notes.append(record["reason"])
        lines.append(
            f"| {group} | {record['title']} | {record['measured']} | {record['connections']} "
            f"| {_num(record['rps'], 0)} | {_num(latency['p50'])} | {_num(latency['p90'])} "
            f"| {_num(latency['p99'])} | {_num(record.get('cpu_ms_per_request'), 3)} "
            f"| {_num(record.get('peak_rss_mb'), 1)} | {record['errors']['total']} "
            f"| {'; '.join(notes)} |"
        )
    return lines


def _streaming(document: dict[str, Any]) -> list[str]:
    """The streaming rows: MB/s of object uploads and downloads, direct and through the
    proxy, and the proxy's memory while the bytes flow through it."""
    transfers = document.get("transfers", [])
    size = document["settings"].get("transfer_bytes")
    out = ["## Streaming (object upload and download)", ""]
    if not transfers:
        return [*out, "Not measured in this run."]
    out += [
        f"One object of {size / 2**20:,.0f} MiB at a time on one connection "
        "(`benchmarks/transfer.py`, on the load cores: an upload sends it with "
        "`Content-Length`, a download reads it to the end), direct to a Swift stand-in "
        "(`benchmarks/upstream.py --transfer`: reads a PUT to its end and answers 201, sends a "
        "GET with sendfile) and through `nhn-proxy serve` to the same stand-in, which streams "
        "both ways (`PUT`/`GET storage/containers/{c}/objects/{o}`). MB/s is the median "
        "transfer; peak RSS and CPU are of the measured process over all its transfers.",
        "",
        "| transfer | measured process | MB/s | seconds | peak RSS MB | CPU s per GiB | notes |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for record in transfers:
        if record.get("status") != "ok":
            out.append(
                f"| {record['title']} | {record['measured']} | | | | | "
                f"**{record.get('status')}**: {record.get('reason', '')} |"
            )
            continue
        runs = record["runs_s"]
        note = f"median of {len(runs)} ({', '.join(_num(run, 2) for run in runs)} s)"
        out.append(
            f"| {record['title']} | {record['measured']} | {_num(record['mb_per_s'], 0)} "
            f"| {_num(record['seconds'], 2)} | {_num(record['peak_rss_mb'], 1)} "
            f"| {_num(record['cpu_s_per_gib'], 2)} | {note if len(runs) > 1 else ''} |"
        )
    streaming = document["derived"]["streaming"]
    out += [
        "",
        _ratio_line("upload: nhn-proxy / direct", streaming["upload_proxy_over_direct"]),
        _ratio_line("download: nhn-proxy / direct", streaming["download_proxy_over_direct"]),
        f"- nhn-proxy's peak RSS while {size / 2**20:,.0f} MiB objects stream through it: "
        f"**{_num(streaming['proxy_peak_rss_mb'], 1)} MB** (it never holds an object whole)",
    ]
    return out


def _ratio_line(label: str, value: float | None) -> str:
    return f"- {label}: **{_num(value, 2)}**" + ("" if value is None else f" ({value:.0%})")


def markdown(document: dict[str, Any]) -> str:
    machine, settings, derived = document["machine"], document["settings"], document["derived"]
    ratios, added = derived["ratios"], derived["added_latency_ms"]
    by_id = {record["id"]: record for record in document["scenarios"]}
    command = "python -m benchmarks.bench" + (" --smoke" if settings["smoke"] else "")
    out = [
        "# nhn-proxy benchmark results",
        "",
        f"Written by `{command}` (`make bench`) on {machine['date']}; the whole run took "
        f"{document['elapsed_s']:.0f} s. Raw numbers: `results.json`. How to read this: "
        "`benchmarks/README.md`.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {machine['cpu']} |",
        f"| cores | {machine['cores']} ({machine['cores_usable']} usable) |",
        f"| kernel | {machine['kernel']} |",
        f"| Python | {machine['python']} |",
        f"| aiohttp | {machine['aiohttp']} |",
        f"| uvloop / orjson installed | {machine['uvloop'] or 'no'} / "
        f"{machine['orjson'] or 'no'} |",
        f"| nginx | {machine['nginx'] or 'not installed'} |",
        f"| load generator | {machine['wrk'] or machine['load_generator']} |",
        f"| upstream | {machine['upstream']} (static canned native JSON) |",
        f"| code | {machine['git'] or 'unknown'} |",
        f"| load average before / after | {machine['loadavg_before']} / "
        f"{machine.get('loadavg_after', '?')} |",
        "",
        "## Set-up",
        "",
        f"- {settings['duration_s']} s per scenario, {settings['connections']} connections "
        f"(1 thread of wrk per load core), {settings['warmup_s']} s warm-up before each "
        "nhn-proxy scenario on a fresh proxy process. The max-throughput `flavors` rows "
        f"(direct, nginx, forwarder, nhn-proxy with 1 and 2 workers) are run "
        f"{settings.get('repeats', 1)} times each and the run of median req/s is kept: this "
        "machine's speed drifts by tens of percent from one minute to the next.",
        f"- Pinning with `taskset`: {settings['pinning']}.",
        "- Upstream: canned native answers ("
        + ", ".join(f"{name} {size:,} B" for name, size in settings["canned_sizes_bytes"].items())
        + f"; {settings['flavors']} flavors). The 10,000-object listing costs the proxy two "
        "upstream calls: the page is full (limit 10,000), so it asks again with a marker and "
        "gets `[]`. Instance create costs two: `GET flavors/detail`, then `POST servers`.",
        "- nhn-proxy runs as `python -m proxy serve --config FILE` (logging WARNING), its "
        "endpoints pointed at the upstream; one fresh process per translated route.",
        "- CPU per request: utime + stime of the measured process (and its children) from "
        "`/proc/<pid>/stat` over the run, divided by the requests. Peak RSS: VmHWM (reset "
        "before the run through `clear_refs` where allowed) or the highest VmRSS sampled "
        "every 50 ms. For the direct scenarios the measured process is the upstream itself.",
        "- Latency at about half of the proxy's max throughput: stock wrk has no rate limit, "
        "so each connection pauses after every answer (wrk's `delay()` hook), a random time "
        "of fixed mean (exponential: arrivals close to a Poisson stream; a fixed pause keeps "
        "the connections in lockstep, so their requests arrive in bursts); "
        "the number of connections is calibrated with a 2 s probe to offer half the "
        "req/s of the max-throughput run. The same method is used for the direct run; the "
        "achieved rate is in the notes. The pause is not part of the latency.",
        "- Listings' added latency is measured with 1 connection (no queueing): the proxy's "
        "full cost of one request minus the native page served directly. These runs reuse "
        "the proxy process of the max-throughput run of the same route, so their RSS "
        "includes what that run left behind.",
    ]
    out += [f"- Note: {note}" for note in settings["notes"]]
    out += ["", "## Results", "", *_table(document), ""]
    out += [
        "## Ratios (GET compute/flavors/, max throughput)",
        "",
        _ratio_line("nhn-proxy / direct", ratios["flavors_proxy_over_direct"]),
        _ratio_line("nhn-proxy / nginx pass-through", ratios["flavors_proxy_over_nginx"]),
        _ratio_line("nginx pass-through / direct", ratios["flavors_nginx_over_direct"]),
        _ratio_line(
            "aiohttp forwarder (no nhn-proxy code) / nginx pass-through",
            ratios["forwarder_over_nginx"],
        ),
        _ratio_line(
            "nhn-proxy / aiohttp forwarder (what nhn-proxy's own work costs)",
            ratios["flavors_proxy_over_forwarder"],
        ),
        _ratio_line(
            "instances (1,000 servers) nhn-proxy / direct", ratios["instances_proxy_over_direct"]
        ),
        _ratio_line(
            "objects (10,000) nhn-proxy / direct (one native page)",
            ratios["objects_proxy_over_direct"],
        ),
        _ratio_line("instance create nhn-proxy / direct POST", ratios["create_proxy_over_direct"]),
        _ratio_line("2 workers / 1 worker", ratios["two_workers_over_one"]),
        "",
        "## Added latency (nhn-proxy minus direct)",
        "",
        "| measurement | p50 ms | p90 ms | p99 ms | at |",
        "|---|---:|---:|---:|---|",
    ]
    where = {
        "flavors_at_half_rate": (
            "GET compute/flavors/",
            "half-proxy-flavors",
            "half-direct-flavors",
        ),
        "forwarder_at_half_rate": (
            "aiohttp forwarder (no nhn-proxy code), same rate: the stack's own share",
            "half-forwarder-flavors",
            "half-direct-flavors",
        ),
        "instances_unloaded": (
            "GET compute/instances/ (1,000 servers)",
            "unloaded-proxy-instances",
            "unloaded-direct-servers",
        ),
        "objects_unloaded": (
            "GET storage/containers/{c}/ (10,000 objects)",
            "unloaded-proxy-objects",
            "unloaded-direct-objects",
        ),
    }
    for key, (label, proxy_id, direct_id) in where.items():
        values = added[key]
        proxy, direct = by_id.get(proxy_id, {}), by_id.get(direct_id, {})
        if _ok(proxy) and _ok(direct):
            at = f"{_num(proxy['rps'], 0)} req/s via, {_num(direct['rps'], 0)} req/s direct" + (
                " (rate-limited)" if proxy.get("delay_ms") else " (1 connection)"
            )
        else:
            at = "not measured"
        out.append(
            f"| {label} | {_num(values['p50'], 3)} | {_num(values['p90'], 3)} "
            f"| {_num(values['p99'], 3)} | {at} |"
        )
    out += ["", *_streaming(document)]
    startups = document.get("startups", [])
    out += [
        "",
        "## Start-up",
        "",
        "Spawning `python -m proxy serve` to its first 2xx answer of a translated route: "
        + (
            ", ".join(f"{entry['seconds']:.2f} s" for entry in startups)
            if startups
            else "not measured"
        )
        + ".",
        "",
        "## Targets",
        "",
        "| target | measured | status | how |",
        "|---|---:|---|---|",
    ]
    for item in derived["targets"]:
        value = item["value"]
        shown = "—" if value is None else f"{_num(value, 3 if value < 10 else 0)} {item['unit']}"
        status = {"met": "met", "not met": "**not met**"}.get(item["status"], item["status"])
        out.append(f"| {item['target']} | {shown} | {status} | {item['detail']} |")
    out += ["", PROFILE.read_text(encoding="utf-8").strip(), ""]
    return "\n".join(out)


# written by hand from profiling sessions (the numbers above are measured on every run)
PROFILE = Path(__file__).with_name("PROFILE.md")


def write_reports(document: dict[str, Any], output: Path) -> Path:
    output.mkdir(parents=True, exist_ok=True)
    document["derived"] = derive(document)
    (output / "results.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    path = output / "RESULTS.md"
    path.write_text(markdown(document))
    return path


def main() -> None:
    """`python -m benchmarks.report [DIR]`: write RESULTS.md again from DIR/results.json
    (default: this directory), e.g. after PROFILE.md was edited; nothing is measured."""
    import sys

    output = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent
    document = json.loads((output / "results.json").read_text(encoding="utf-8"))
    print(write_reports(document, output))


if __name__ == "__main__":
    main()
