"""Hostile input, end to end: whatever a hostile page or client sends — a region outside the
allow-list, path parameters that try to climb out of their collection, broken or oversized
bodies, abused headers, a foreign origin — is refused in the standard error shape, never
with a 500, and (asserted on the emulator's journal of native requests) never reaches NHN
or leaves the intended resource collection.

Requests that `aiohttp.ClientSession` would refuse or normalise are written byte for byte
on a plain socket (`raw_request`).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from multidict import CIMultiDict

from nhn_proxy.emulator import DEMO_TENANT_ID, DEMO_USERNAME
from tests.e2e.conftest import API, JSON, Reply, Stack, StackFactory, check_error

pytestmark = pytest.mark.e2e

ALLOWED_ORIGIN = "http://localhost:3000"  # the default cors.allow_origins
GENERATED_ID = re.compile(r"[0-9a-f]{32}")
MIB = 1024 * 1024


# -- a byte-exact HTTP/1.1 client ------------------------------------------------------------


@dataclass
class RawReply:
    status: int
    headers: CIMultiDict[str]
    body: Any
    text: str

    def __repr__(self) -> str:
        return f"<RawReply {self.status} {self.text[:200]!r}>"


async def raw_request(
    stack: Stack,
    method: str,
    target: bytes,
    headers: Iterable[tuple[bytes | str, bytes | str]] = (),
    body: bytes = b"",
    *,
    timeout: float = 5.0,
) -> RawReply:
    """Send exactly these bytes (request line, headers, body) and read the whole answer.

    The answer is read while the request is still being written: the server may answer and
    close before it has read a huge header, and a reset after the answer is not an error."""
    url = urlsplit(stack.proxy_url)
    lines = [method.encode() + b" " + target + b" HTTP/1.1", f"Host: {url.netloc}".encode()]
    for name, value in headers:
        name = name.encode() if isinstance(name, str) else name
        value = value.encode() if isinstance(value, str) else value
        lines.append(name + b": " + value)
    if body:
        lines.append(f"Content-Length: {len(body)}".encode())
    lines.append(b"Connection: close")
    payload = b"\r\n".join(lines) + b"\r\n\r\n" + body

    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        try:

            async def send() -> None:
                try:
                    writer.write(payload)
                    await writer.drain()
                except OSError:  # the server answered and closed before reading it all
                    pass

            sending = asyncio.ensure_future(send())
            received = bytearray()
            try:
                while chunk := await reader.read(65536):
                    received += chunk
            except OSError:  # a reset after the answer (unread request bytes)
                pass
            await sending
        finally:
            writer.close()
    return parse_answer(bytes(received))


def parse_answer(data: bytes) -> RawReply:
    head, separator, rest = data.partition(b"\r\n\r\n")
    assert separator, f"no complete HTTP answer: {data[:300]!r}"
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers: CIMultiDict[str] = CIMultiDict()
    for line in header_lines:
        name, _, value = line.partition(":")
        headers.add(name.strip(), value.strip())
    if "Content-Length" in headers:
        rest = rest[: int(headers["Content-Length"])]
    text = rest.decode("utf-8", "replace")
    body = json.loads(text) if "json" in headers.get("Content-Type", "") and text else None
    return RawReply(status, headers, body, text)


def check_raw_error(reply: RawReply | Reply, status: int, *contains: str) -> str:
    """The standard error shape (as `check_error`), for a raw or a session answer."""
    return check_error(
        Reply(reply.status, reply.headers, reply.text, reply.body), status, *contains
    )


def allows(reply: RawReply | Reply, statuses: Sequence[int]) -> None:
    """One of `statuses`, in the standard error shape."""
    assert reply.status in statuses, f"expected one of {statuses}, got {reply!r}"
    check_raw_error(reply, reply.status)


async def fresh_journal(stack: Stack, *kinds: str) -> None:
    """Issue the tokens of `kinds` first, then empty the emulator's journal."""
    for kind in kinds:
        await stack.headers(kind)
    await stack.clear_requests()


async def assert_no_native_call(stack: Stack, what: object = "") -> None:
    calls = await stack.native_calls()
    assert calls == [], f"{what!r} reached NHN: {calls}"


# -- 1. region header outside the allow-list -------------------------------------------------------

HOSTILE_REGIONS = [
    b"kr1.evil.com",
    b"kr1/",
    b"kr1/../kr2",
    b"kr1@host",
    b"evil.com@kr1",
    b"kr1:80",
    b"kr1#",
    b"kr1?x=1",
    b"kr1%2F",
    "한국".encode(),
    "kr\uff11".encode(),  # a full-width digit one
    b"k r1",
    b"kr1 kr2",
    b"kr1,kr2",
    b"KR1.",
    b"kr1.",
    b"kr9",
    b"xx",
    b"*",
]


async def test_a_region_outside_the_allow_list_never_reaches_nhn(stack: Stack) -> None:
    token = (await stack.token())["token"]
    await fresh_journal(stack, "compute", "network")
    for region in HOSTILE_REGIONS:
        for target in (b"/api/nhn/vpc/", b"/api/nhn/compute/flavors/"):
            headers = [
                ("X-NHN-Token", token),
                ("X-NHN-Tenant-ID", DEMO_TENANT_ID),
                (b"X-NHN-Region", region),
            ]
            reply = await raw_request(stack, "GET", target, headers)
            assert reply.status == 400, (region, reply)
            check_raw_error(reply, 400, "X-NHN-Region")
        await assert_no_native_call(stack, region)


async def test_a_megabyte_region_header_never_reaches_nhn(stack: Stack) -> None:
    token = (await stack.token())["token"]
    await fresh_journal(stack, "network")
    headers = [("X-NHN-Token", token), (b"X-NHN-Region", b"kr1" * (MIB // 3))]
    reply = await raw_request(stack, "GET", b"/api/nhn/vpc/", headers)
    check_raw_error(reply, 400, "too long")
    assert GENERATED_ID.fullmatch(reply.headers["X-Request-ID"])
    await assert_no_native_call(stack, "1 MB region")
    assert (await stack.get("/vpc/", "network")).status == 200  # still serving


async def test_region_padding_and_case_are_not_part_of_the_value(stack: Stack) -> None:
    """HTTP strips the optional whitespace around a field value (RFC 9110 §5.5), and regions
    are case-insensitive: these all mean kr1, and only the allow-listed `kr1` is used."""
    token = (await stack.token())["token"]
    for region in (b" kr1", b"kr1  ", b"\tkr1\t", b"KR1", b"Kr1"):
        await fresh_journal(stack, "network")
        headers = [("X-NHN-Token", token), (b"X-NHN-Region", region)]
        reply = await raw_request(stack, "GET", b"/api/nhn/vpc/", headers)
        assert reply.status == 200, (region, reply)
        assert await stack.native_calls() == [("GET", "/kr1/network/v2.0/vpcs")], region


# -- 2. path parameters ----------------------------------------------------------------------------

# Each is put, byte for byte, where the path parameter goes in the request line.
HOSTILE_SEGMENTS = [
    b"..",
    b".",
    b"%2e%2e",
    b"%2E%2E",
    b".%2e",
    b"%2e",
    b"..%2F..%2Fflavors",
    b"%2e%2e%2f%2e%2e%2fos-keypairs",
    b"..%5C..%5Cflavors",
    b"a%2Fb",
    b"a%2fb",
    b"%2F",
    b"a%3Fx%3D1",
    b"a%23x",
    b"a;x=1",
    b"a%3Bx%3D1",
    b"a%00",
    b"%00",
    b"a%00b",
    b"a%0D%0AX-Evil:%201",
    b"a%20b",
    b"%252e%252e%252f",
    b"%C0%AE%C0%AE",
    b"a%E2%80%AEb",
    b"x" * 300,
    b"x" * 5000,
    b"x" * 9000,  # the request line is then over 8 KiB: refused by the HTTP parser
    # raw slashes: the route no longer matches (aiohttp does not fold dot segments)
    b"../..",
    b"a/../b",
    b"../../compute/flavors",
]


@dataclass(frozen=True)
class ParamRoute:
    method: str
    template: str  # public path with {} for the parameter
    kind: str
    collection: str  # native collection path (after the stack's base), no trailing slash
    suffix: tuple[str, ...] = ()  # native segments after the resource's own
    body: JSON | None = None

    def native_prefix(self, stack: Stack) -> str:
        if self.kind == "storage":
            return stack.storage_path(self.collection)
        if self.kind == "compute":
            return stack.compute_path(self.collection)
        return f"/{stack.region}{self.collection}"


PARAM_ROUTES = [
    ParamRoute("GET", "/compute/instances/{}/", "compute", "/servers"),
    ParamRoute("DELETE", "/compute/instances/{}/", "compute", "/servers"),
    ParamRoute(
        "POST",
        "/compute/instances/{}/action/",
        "compute",
        "/servers",
        ("action",),
        {"action": "start"},
    ),
    ParamRoute("GET", "/vpc/{}/", "network", "/network/v2.0/vpcs"),
    ParamRoute("DELETE", "/vpc/{}/", "network", "/network/v2.0/vpcs"),
    ParamRoute("GET", "/subnet/{}/", "network", "/network/v2.0/vpcsubnets"),
    ParamRoute("DELETE", "/subnet/{}/", "network", "/network/v2.0/vpcsubnets"),
    ParamRoute("GET", "/nks/clusters/{}/", "network", "/kubernetes/v1/clusters"),
    ParamRoute(
        "GET", "/nks/clusters/{}/config/", "network", "/kubernetes/v1/clusters", ("config",)
    ),
    ParamRoute("DELETE", "/nks/clusters/{}/", "network", "/kubernetes/v1/clusters"),
    ParamRoute("GET", "/storage/containers/{}/", "storage", ""),
    ParamRoute("DELETE", "/storage/containers/{}/", "storage", ""),
]


def check_in_collection(entry: JSON, prefix: str, suffix: tuple[str, ...]) -> None:
    """A native request stays inside `prefix`: the collection itself, or exactly one
    resource segment (never empty, `.` or `..`, no control character once decoded; any `/`,
    `?` or `#` in it percent-encoded) followed by the expected suffix."""
    path, raw = entry["path"], entry["raw_path"]
    assert "#" not in raw, raw
    assert path == prefix or path.startswith(prefix + "/"), f"left {prefix}: {raw}"
    rest = path[len(prefix) :]
    if not rest:  # the collection itself (a listing or look-up by name)
        return
    segment, *after = rest[1:].split("/")
    assert tuple(after) in ((), suffix), f"unexpected native path {raw}"
    decoded = unquote(segment)
    assert segment and decoded not in (".", ".."), f"relative segment in {raw}"
    assert not any(ord(char) < 0x20 for char in decoded), raw
    assert "x" not in entry["query"], f"query smuggled into {raw}"


@pytest.mark.parametrize("route", PARAM_ROUTES, ids=lambda r: f"{r.method} {r.template}")
async def test_hostile_path_parameters_stay_in_their_collection(
    stack: Stack, route: ParamRoute
) -> None:
    headers = await stack.headers(route.kind)
    prefix = route.native_prefix(stack)
    body = json.dumps(route.body).encode() if route.body is not None else b""
    if body:
        headers = {**headers, "Content-Type": "application/json"}
    for segment in HOSTILE_SEGMENTS:
        await stack.clear_requests()
        target = (API + route.template).encode().replace(b"{}", segment)
        reply = await raw_request(stack, route.method, target, headers.items(), body)
        assert reply.status in (400, 404), (segment[:40], reply)
        check_raw_error(reply, reply.status)
        journal = await stack.native_requests()
        if route.kind != "storage":  # none of these is a legal NHN id or cluster name
            assert journal == [], (segment[:40], journal)
        for entry in journal:  # some are legal container names: encoded, in place
            check_in_collection(entry, prefix, route.suffix)


async def test_encoded_characters_of_a_legal_container_name_stay_encoded(stack: Stack) -> None:
    """`?`, `#` and non-ASCII are legal in a Swift container name: they reach NHN
    percent-encoded inside the one container segment, never as a query or fragment."""
    headers = await stack.headers("storage")
    prefix = stack.storage_path()
    for segment, native in (
        (b"a%3Fx%3D1", "/a%3Fx%3D1"),
        (b"a%23x", "/a%23x"),
        (b"%ED%95%9C", "/%ED%95%9C"),
        (b"...", "/..."),
    ):
        await stack.clear_requests()
        target = b"/api/nhn/storage/containers/" + segment + b"/"
        reply = await raw_request(stack, "GET", target, headers.items())
        check_raw_error(reply, 404)
        (entry,) = await stack.native_requests()
        assert entry["raw_path"].startswith(prefix + native), entry["raw_path"]
        assert entry["query"].keys() <= {"format", "limit", "marker"}, entry["raw_path"]
        check_in_collection(entry, prefix, ())


# -- 3. request bodies -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BodyRoute:
    path: str
    kind: str | None
    valid: JSON  # passes the route's schema (NHN may still refuse it)
    wrong_types: dict[str, Sequence[Any]]


ID = "3a005d5b-63cf-4493-bfc6-49db990b5b50"
NOT_A_STRING = (123, 1.5, True, ["x"], {"x": "y"})
NOT_AN_INT = ("50", 50.5, True, [50], {"n": 50}, None)
BODY_ROUTES = [
    BodyRoute(
        "/token/",
        None,
        {"tenant_id": DEMO_TENANT_ID, "username": DEMO_USERNAME, "password": "not-checked"},
        {"tenant_id": NOT_A_STRING, "username": NOT_A_STRING, "password": NOT_A_STRING},
    ),
    BodyRoute(
        "/compute/instances/create/",
        "compute",
        {
            "name": "vm",
            "image_id": ID,
            "flavor_id": ID,
            "subnet_id": ID,
            "keypair_name": "k",
            "volume_size": 50,
            "security_groups": ["default"],
        },
        {
            "name": NOT_A_STRING,
            "image_id": NOT_A_STRING,
            "keypair_name": NOT_A_STRING,
            "volume_size": NOT_AN_INT[:-1],
            "security_groups": ("default", [1], [["x"]], {"a": 1}, [None]),
        },
    ),
    BodyRoute(
        f"/compute/instances/{ID}/action/",
        "compute",
        {"action": "start"},
        {"action": (*NOT_A_STRING, None)},
    ),
    BodyRoute(
        "/vpc/create/",
        "network",
        {"name": "v", "cidr": "10.0.0.0/16"},
        {"name": NOT_A_STRING, "cidr": (*NOT_A_STRING, None)},
    ),
    BodyRoute(
        "/subnet/create/",
        "network",
        {"vpc_id": ID, "name": "s", "cidr": "10.0.1.0/24"},
        {"vpc_id": NOT_A_STRING, "name": NOT_A_STRING, "cidr": NOT_A_STRING},
    ),
    BodyRoute(
        "/nks/clusters/create/",
        "network",
        {
            "cluster_name": "c",
            "vpc_id": ID,
            "subnet_id": ID,
            "instance_type": ID,
            "keypair_name": "k",
            "kubernetes_version": "v1.29.3",
            "availability_zone": "kr2-pub-a",
        },
        {
            "cluster_name": NOT_A_STRING,
            "kubernetes_version": NOT_A_STRING,
            "node_count": NOT_AN_INT,
            "boot_volume_size": NOT_AN_INT,
            "is_public": ("true", "yes", "1", [True], {"x": 1}, None),
        },
    ),
    BodyRoute(
        "/storage/containers/create/",
        "storage",
        {"name": "c"},
        {"name": (*NOT_A_STRING, None)},
    ),
]
DEEP = 100_000


def hostile_bodies(route: BodyRoute) -> Iterable[tuple[str, bytes, str | None]]:
    """(case, raw body, a word the 400 message must contain)."""
    yield "invalid JSON", b'{"name": ', "json"
    yield "invalid JSON (single quotes)", b"{'name': 'x'}", "json"
    yield "invalid JSON (trailing garbage)", json.dumps(route.valid).encode() + b"}", "json"
    yield "not UTF-8", b'{"name": "\xff\xfe"}', None
    yield "NaN", b'{"name": NaN}', None
    for value in ([], [route.valid], "string", 42, 1.5, None, True):
        yield f"not an object: {value!r:.20}", json.dumps(value).encode(), "object"
    yield "empty object", b"{}", None
    for name, values in route.wrong_types.items():
        for value in values:
            body = {**route.valid, name: value}
            yield f"{name}={value!r}", json.dumps(body).encode(), name
    yield "unknown field", json.dumps({**route.valid, "evil": 1}).encode(), "evil"
    yield (
        "unknown nested",
        json.dumps({**route.valid, "__proto__": {"admin": True}}).encode(),
        "__proto__",
    )
    first = next(iter(route.valid))
    yield "500 KB string", json.dumps({**route.valid, first: "x" * 500_000}).encode(), first
    yield "deep array", b"[" * DEEP + b"]" * DEEP, None
    yield "deep object", b'{"a":' * DEEP + b"1" + b"}" * DEEP, None
    deep_field = b'{"' + first.encode() + b'": ' + b"[" * DEEP + b"]" * DEEP + b"}"
    yield "deep field", deep_field, None


@pytest.mark.parametrize("route", BODY_ROUTES, ids=lambda r: r.path)
async def test_hostile_bodies_are_400_and_never_reach_nhn(stack: Stack, route: BodyRoute) -> None:
    headers = {**(await stack.headers(route.kind)), "Content-Type": "application/json"}
    await fresh_journal(stack)
    url = f"{stack.proxy_url}{API}{route.path}"
    for case, raw, word in hostile_bodies(route):
        async with stack.session.post(url, data=raw, headers=headers) as response:
            reply = Reply(response.status, response.headers.copy(), await response.text())
        reply.body = json.loads(reply.text) if reply.text.startswith("{") else None
        assert reply.status == 400, (case, reply)
        message = check_raw_error(reply, 400, *((word,) if word else ()))
        assert len(message) < 2000, (case, "the message echoes the body")
        await assert_no_native_call(stack, (route.path, case))


@pytest.mark.parametrize("value", [1, 0, 1.0])
async def test_a_number_is_not_a_boolean(stack: Stack, value: float) -> None:
    route = next(route for route in BODY_ROUTES if route.path == "/nks/clusters/create/")
    await fresh_journal(stack, "network")
    reply = await stack.post(route.path, "network", {**route.valid, "is_public": value})
    check_error(reply, 400, "is_public")
    await assert_no_native_call(stack, f"is_public={value!r}")


@pytest.mark.parametrize("route", BODY_ROUTES, ids=lambda r: r.path)
async def test_a_body_over_the_limit_is_413(stack: Stack, route: BodyRoute) -> None:
    """One byte over `server.max_body_size` (default 1 MiB), sized or chunked."""
    headers = {**(await stack.headers(route.kind)), "Content-Type": "application/json"}
    await fresh_journal(stack)
    url = f"{stack.proxy_url}{API}{route.path}"
    first = next(iter(route.valid))
    filler = MIB + 1 - len(json.dumps({**route.valid, first: ""}))
    raw = json.dumps({**route.valid, first: "x" * filler}).encode()
    assert len(raw) == MIB + 1

    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), 65536):
            yield raw[start : start + 65536]

    for data in (raw, chunked()):
        async with stack.session.post(url, data=data, headers=headers) as response:
            reply = Reply(response.status, response.headers.copy(), await response.text())
        reply.body = json.loads(reply.text)
        check_raw_error(reply, 413, "too large")
    await assert_no_native_call(stack, route.path)


async def test_the_body_limit_follows_the_setting(make_stack: StackFactory) -> None:
    stack = await make_stack(settings={"server": {"max_body_size": 4096}})
    await fresh_journal(stack, "network")
    over = {"name": "x" * 4096, "cidr": "10.9.0.0/16"}
    check_error(await stack.post("/vpc/create/", "network", over), 413, "too large")
    await assert_no_native_call(stack, "4 KiB body")
    under = {"name": "x" * 200, "cidr": "10.9.0.0/16"}
    assert (await stack.post("/vpc/create/", "network", under)).status == 201


# -- 4. header abuse -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "kind", "path"),
    [
        ("X-NHN-Token", "compute", "/compute/flavors/"),
        ("X-NHN-Region", "compute", "/compute/flavors/"),
        ("X-NHN-Tenant-ID", "compute", "/compute/flavors/"),
        ("X-NHN-Storage-Account", "storage", "/storage/containers/"),
    ],
)
async def test_an_nhn_header_sent_twice_is_400(
    stack: Stack, header: str, kind: str, path: str
) -> None:
    headers = await stack.headers(kind)
    await fresh_journal(stack)
    value = headers[header]
    for twice in ((header, value), (header.lower(), value), (header.upper(), "other")):
        sent = [*headers.items(), twice]
        reply = await raw_request(stack, "GET", f"{API}{path}".encode(), sent)
        check_raw_error(reply, 400, header, "once")
    await assert_no_native_call(stack, header)


@pytest.mark.parametrize(
    "header",
    [
        ("X-Padding", "p" * 9 * 1024),
        ("X-NHN-Token", "t" * 9 * 1024),
        ("Cookie", "c=" + "v" * 70_000),
    ],
    ids=lambda h: h[0],
)
async def test_a_header_over_8_kib_is_400(stack: Stack, header: tuple[str, str]) -> None:
    headers = await stack.headers("network")
    await fresh_journal(stack)
    sent = [*(item for item in headers.items() if item[0] != header[0]), header]
    reply = await raw_request(stack, "GET", b"/api/nhn/vpc/", sent)
    check_raw_error(reply, 400, "too long")
    assert GENERATED_ID.fullmatch(reply.headers["X-Request-ID"])
    await assert_no_native_call(stack, header[0])


async def test_too_many_headers_are_refused(stack: Stack) -> None:
    headers = await stack.headers("network")
    await fresh_journal(stack)
    sent = [*headers.items(), *((f"X-Filler-{index}", "x") for index in range(500))]
    reply = await raw_request(stack, "GET", b"/api/nhn/vpc/", sent)
    allows(reply, (400, 431))
    await assert_no_native_call(stack, "500 headers")


CONTROL_CHARACTER_VALUES = [
    ("X-NHN-Token", b"{token}\r\nX-NHN-Region: kr1"),  # header injection: duplicates
    ("X-NHN-Token", b"{token}\r\n kr1"),  # obsolete line folding
    ("X-NHN-Region", b"kr2\r\n\tkr1"),
    ("X-NHN-Token", b"{token}\rX-Evil: 1"),  # bare CR
    ("X-NHN-Region", b"kr2\rkr1"),
    ("X-NHN-Token", b"{token}\x00"),  # NUL
    ("X-NHN-Region", b"kr2\x00.evil.com"),
    ("X-NHN-Region", b"kr2\x0bx"),
    ("X-NHN-Token", b"{token}\x1b[31m"),
    ("X-NHN-Token", b"{token}\nX-NHN-Region: kr1"),  # bare LF
]


async def test_control_characters_in_header_values_are_refused(stack: Stack) -> None:
    headers = await stack.headers("network")
    await fresh_journal(stack)
    for name, template in CONTROL_CHARACTER_VALUES:
        value = template.replace(b"{token}", headers["X-NHN-Token"].encode())
        sent = [*(item for item in headers.items() if item[0] != name), (name, value)]
        reply = await raw_request(stack, "GET", b"/api/nhn/vpc/", sent)
        assert reply.status == 400, (template, reply)
        check_raw_error(reply, 400)
        await assert_no_native_call(stack, template)


INSANE_REQUEST_IDS = [
    b"abc%0D%0AX-Evil: 1",
    b"abc\\r\\nX-Evil: 1",
    b"<script>alert(1)</script>",
    b'"quoted"',
    b"a b",
    "한국".encode(),
    b"r" * 129,
    b"r" * 5000,
]


async def test_an_insane_request_id_is_replaced_not_echoed(stack: Stack) -> None:
    headers = await stack.headers("network")
    for request_id in INSANE_REQUEST_IDS:
        await fresh_journal(stack)
        sent = [*headers.items(), (b"X-Request-ID", request_id)]
        reply = await raw_request(stack, "GET", b"/api/nhn/vpc/", sent)
        assert reply.status == 200, (request_id[:30], reply)
        generated = reply.headers["X-Request-ID"]
        assert GENERATED_ID.fullmatch(generated), (request_id[:30], generated)
        (entry,) = await stack.native_requests()
        assert entry["headers"]["X-Request-ID"] == generated  # NHN gets the generated one


async def test_a_request_id_the_parser_refuses_gets_a_generated_one(stack: Stack) -> None:
    """Obsolete line folding, a bare CR, a NUL or 10 KB in X-Request-ID: 400 from the HTTP
    parser, in the standard shape, with a generated id."""
    headers = await stack.headers("network")
    await fresh_journal(stack)
    for request_id in (b"abc\r\n evil", b"abc\rX-Evil: 1", b"abc\x00", b"r" * 10 * 1024):
        sent = [*headers.items(), (b"X-Request-ID", request_id)]
        reply = await raw_request(stack, "GET", b"/api/nhn/vpc/", sent)
        assert reply.status == 400, (request_id[:20], reply)
        check_raw_error(reply, 400)
        assert GENERATED_ID.fullmatch(reply.headers["X-Request-ID"]), reply.headers
        assert "X-Evil" not in reply.headers
        await assert_no_native_call(stack, request_id[:20])


async def test_crlf_in_a_request_id_cannot_split_the_answer(stack: Stack) -> None:
    """A CRLF "inside" X-Request-ID ends the header on the wire: the id is the part before
    it and the rest is a request header of its own, never an answer header."""
    headers = await stack.headers("network")
    sent = [*headers.items(), (b"X-Request-ID", b"abc\r\nX-Evil: 1")]
    reply = await raw_request(stack, "GET", b"/api/nhn/vpc/", sent)
    assert reply.status == 200, reply
    assert reply.headers.getall("X-Request-ID") == ["abc"]
    assert "X-Evil" not in reply.headers


# -- 5. CORS ---------------------------------------------------------------------------------------

FOREIGN_ORIGINS = [
    "http://evil.example",
    "null",
    "http://localhost:3000.evil.example",
    "http://evil.localhost:3000",
    "http://localhost:30000",
    "https://localhost:3000",
    "http://localhost:3000/",
    "http://localhost",
]


def cors_headers(reply: RawReply | Reply) -> dict[str, str]:
    return {k: v for k, v in reply.headers.items() if k.lower().startswith("access-control-")}


async def preflight(stack: Stack, origin: str, path: str, method: str) -> Reply:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "x-nhn-token, x-nhn-region, content-type",
    }
    return await stack.call("OPTIONS", path, headers=headers)


async def actual_requests(stack: Stack, origin: str) -> list[tuple[str, Reply]]:
    """A success and an error answer of GET and POST (and an unmatched route), from `origin`."""
    network = {**(await stack.headers("network")), "Origin": origin}
    valid = {"name": "cors", "cidr": "10.20.0.0/16"}
    return [
        ("GET 200", await stack.call("GET", "/vpc/", headers=network)),
        ("GET 401", await stack.call("GET", "/vpc/", headers={"Origin": origin})),
        ("GET 404", await stack.call("GET", f"/vpc/{ID}/", headers=network)),
        ("POST 201", await stack.call("POST", "/vpc/create/", headers=network, json=valid)),
        ("POST 400", await stack.call("POST", "/vpc/create/", headers=network, json={"x": 1})),
        ("unmatched 404", await stack.call("GET", "/no/such/route/", headers=network)),
        ("405", await stack.call("PUT", "/vpc/", headers=network, json={})),
    ]


async def test_a_foreign_origin_gets_no_cors_headers(stack: Stack) -> None:
    for origin in FOREIGN_ORIGINS:
        for path, method in (("/vpc/", "GET"), ("/vpc/create/", "POST"), ("/vpc/x/", "DELETE")):
            reply = await preflight(stack, origin, path, method)
            check_error(reply, 403)
            assert cors_headers(reply) == {}, (origin, path, reply.headers)
        for case, reply in await actual_requests(stack, origin):
            assert reply.status < 500, (origin, case, reply)
            assert cors_headers(reply) == {}, (origin, case, reply.headers)
    # while the allowed origin gets them
    allowed = await preflight(stack, ALLOWED_ORIGIN, "/vpc/create/", "POST")
    assert allowed.status == 200, allowed
    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


async def test_the_allowed_origin_never_gets_credentials(stack: Stack) -> None:
    reply = await preflight(stack, ALLOWED_ORIGIN, "/vpc/", "GET")
    assert reply.status == 200
    assert "Access-Control-Allow-Credentials" not in reply.headers
    for case, reply in await actual_requests(stack, ALLOWED_ORIGIN):
        assert reply.headers.get("Access-Control-Allow-Origin") == ALLOWED_ORIGIN, case
        assert "Access-Control-Allow-Credentials" not in reply.headers, case


async def test_any_origin_is_never_combined_with_credentials(make_stack: StackFactory) -> None:
    stack = await make_stack(settings={"cors": {"allow_origins": ["*"]}})
    for origin in ("http://any.example", "null", ALLOWED_ORIGIN):
        for path, method in (("/vpc/", "GET"), ("/vpc/create/", "POST")):
            reply = await preflight(stack, origin, path, method)
            assert reply.status == 200, reply
            assert reply.headers.get("Access-Control-Allow-Origin") in ("*", origin)
            assert "Access-Control-Allow-Credentials" not in reply.headers, reply.headers
        for case, reply in await actual_requests(stack, origin):
            assert reply.status < 500, (case, reply)
            assert reply.headers.get("Access-Control-Allow-Origin") in ("*", origin), case
            credentials = reply.headers.get("Access-Control-Allow-Credentials", "")
            assert credentials.lower() != "true", (case, reply.headers)
    # a credentialed-looking request (a cookie) changes nothing
    headers = {**(await stack.headers("network")), "Origin": "http://any.example"}
    reply = await stack.call("GET", "/vpc/", headers={**headers, "Cookie": "session=1"})
    assert "Access-Control-Allow-Credentials" not in reply.headers
