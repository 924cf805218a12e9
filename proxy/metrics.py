"""Prometheus metrics in text format, labelled by route *template* (never the raw path, whose
values are unbounded)."""

from __future__ import annotations

import bisect
from collections import defaultdict

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.requests: defaultdict[tuple[str, str, int], int] = defaultdict(int)
        self.durations: defaultdict[tuple[str, str], list[float]] = defaultdict(
            lambda: [0.0] * (len(BUCKETS) + 2)  # buckets..., +Inf count, sum
        )
        self.upstream: defaultdict[tuple[str, str], int] = defaultdict(int)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests[route, method, status] += 1
        histogram = self.durations[route, method]
        index = bisect.bisect_left(BUCKETS, seconds)
        histogram[index] += 1  # counted in its own bucket; cumulated at render time
        histogram[-1] += seconds

    def observe_upstream(self, service: str, outcome: str) -> None:
        self.upstream[service, outcome] += 1

    def render(self) -> str:
        lines = [
            "# HELP nhn_proxy_requests_total Requests answered, by route template and status.",
            "# TYPE nhn_proxy_requests_total counter",
        ]
        for (route, method, status), count in sorted(self.requests.items()):
            lines.append(
                f'nhn_proxy_requests_total{{route="{route}",method="{method}",'
                f'status="{status}"}} {count}'
            )
        lines += [
            "# HELP nhn_proxy_request_duration_seconds Time to answer, by route template.",
            "# TYPE nhn_proxy_request_duration_seconds histogram",
        ]
        for (route, method), histogram in sorted(self.durations.items()):
            labels = f'route="{route}",method="{method}"'
            running = 0.0
            for bound, count in zip(BUCKETS, histogram, strict=False):
                running += count
                lines.append(
                    f'nhn_proxy_request_duration_seconds_bucket{{{labels},le="{bound}"}} '
                    f"{int(running)}"
                )
            total = running + histogram[len(BUCKETS)]
            lines.append(
                f'nhn_proxy_request_duration_seconds_bucket{{{labels},le="+Inf"}} {int(total)}'
            )
            lines.append(f"nhn_proxy_request_duration_seconds_sum{{{labels}}} {histogram[-1]}")
            lines.append(f"nhn_proxy_request_duration_seconds_count{{{labels}}} {int(total)}")
        lines += [
            "# HELP nhn_proxy_upstream_calls_total Calls to NHN Cloud, by service and outcome.",
            "# TYPE nhn_proxy_upstream_calls_total counter",
        ]
        for (service, outcome), count in sorted(self.upstream.items()):
            lines.append(
                f'nhn_proxy_upstream_calls_total{{service="{service}",outcome="{outcome}"}} {count}'
            )
        return "\n".join(lines) + "\n"
