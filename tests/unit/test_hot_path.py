"""The pieces that make the proxy fast (issue #6), held to the behaviour they replace:
JSON in and out, listings written page by page, the read budget for large answers, the
single upstream session (no cookie jar), and request ids that stay unique across forks."""

from __future__ import annotations

import asyncio
import gc
import gzip
import json
import os
import weakref

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from nhn_proxy import jsonio
from nhn_proxy.context import NhnContext
from nhn_proxy.errors import UpstreamBadResponse, UpstreamUnavailable
from nhn_proxy.middlewares import new_request_id
from nhn_proxy.paging import collect_listing, collect_pages
from nhn_proxy.resilience import ByteBudget
from nhn_proxy.routing import RawJson, Reply, render
from nhn_proxy.settings import load_settings
from nhn_proxy.upstream import SMALL_BODY, Upstream

# ---------------------------------------------------------------------------------- JSON


def test_dumps_is_utf8_json_equal_to_the_stdlib():
    value = {"name": "서버-1 ✓", "n": [1, 2.5, None, True], "nested": {"a": "\"'\\"}}
    written = jsonio.dumps(value)
    assert isinstance(written, bytes)
    assert "서버".encode() in written  # not \\u-escaped
    assert json.loads(written) == value


@pytest.mark.parametrize("value", [{"big": 2**70}, {1: "int key"}, {"s": "\ud800"}])
def test_dumps_falls_back_to_the_stdlib_where_orjson_refuses(value):
    written = jsonio.dumps(value)
    written.decode("ascii")  # valid ASCII JSON, even with a lone surrogate
    assert json.loads(written) == json.loads(json.dumps(value))


@pytest.mark.parametrize(
    "text", [b"", b"{", b"NaN", b"[1e400]", b'"\\ud800"', b"[" * 2000 + b"]" * 2000, b"\xff"]
)
def test_loads_raises_value_error_for_what_is_not_json(text):
    with pytest.raises(ValueError):
        jsonio.loads(text)


async def test_a_document_already_written_is_sent_as_it_is():
    request = make_mocked_request("GET", "/api/nhn/storage/containers/c/")
    written = b'{"objects":["a","b"]}'
    response = await render(request, Reply(RawJson(written), status=201), 200, "r-1")
    assert response.status == 201 and response.content_type == "application/json"
    assert response.body == written  # not parsed and written again
    response = await render(request, RawJson(written), 200, "r-1")
    assert response.status == 200 and response.body == written


# ------------------------------------------------------------------------------- paging


def pages(*contents):
    """A fetcher serving `contents` page by page, with markers "1", "2", …"""
    calls = []

    async def fetch(marker):
        calls.append(marker)
        index = int(marker or 0)
        last = index == len(contents) - 1
        return list(contents[index]), None if last else str(index + 1)

    return fetch, calls


async def test_listing_as_json_has_every_item_in_order_like_collect_pages():
    contents = ([{"id": 1}, {"id": 2}], [], [{"id": 3, "name": "é"}])
    fetch, calls = pages(*contents)
    written = await collect_listing("servers", fetch, 10, service="compute")
    assert calls == [None, "1", "2"]
    fetch, _ = pages(*contents)
    assert json.loads(written) == {"servers": await collect_pages(fetch, 10, service="compute")}


async def test_listing_as_json_of_nothing_is_an_empty_array():
    for contents in ([[]], [[], []]):
        fetch, _ = pages(*contents)
        written = await collect_listing("objects", fetch, 10, service="storage")
        assert written == b'{"objects":[]}'


async def test_listing_as_json_is_bounded_by_max_pages():
    async def endless(marker):
        return [{"id": marker}], f"{marker or ''}x"

    with pytest.raises(UpstreamBadResponse):
        await collect_listing("images", endless, 3, service="compute")


class Item(dict):
    """A dict that can be weakly referenced, to see whether a page is still alive."""


async def test_a_page_is_not_kept_alive_while_the_next_one_is_fetched():
    first_page: list[weakref.ref] = []

    async def fetch(marker):
        if marker is None:
            page = [Item(id=index) for index in range(3)]
            first_page.extend(weakref.ref(item) for item in page)
            return page, "next"
        gc.collect()
        alive = [ref for ref in first_page if ref() is not None]
        assert not alive, "the items of page 1 are still referenced during the next fetch"
        return [], None

    written = await collect_listing("servers", fetch, 5, service="compute")
    assert json.loads(written) == {"servers": [{"id": 0}, {"id": 1}, {"id": 2}]}


# ----------------------------------------------------------------------------- budget


async def test_budget_admits_what_fits_and_queues_the_rest_in_order():
    budget = ByteBudget(100)
    order: list[str] = []
    await budget.acquire(60)

    async def reader(name, size):
        await budget.acquire(size)
        order.append(name)

    first = asyncio.create_task(reader("first", 50))
    second = asyncio.create_task(reader("second", 10))  # would fit, but waits its turn
    await asyncio.sleep(0)
    assert order == [] and budget.in_use == 60
    budget.release(60)
    await asyncio.gather(first, second)
    assert order == ["first", "second"] and budget.in_use == 60


async def test_budget_lets_an_oversized_answer_through_alone():
    budget = ByteBudget(100)
    async with budget.reserve(500):
        assert budget.in_use == 500
        waiting = asyncio.create_task(budget.acquire(1))
        await asyncio.sleep(0)
        assert not waiting.done()
    await waiting
    assert budget.in_use == 1


async def test_a_cancelled_waiter_gives_its_turn_away():
    budget = ByteBudget(100)
    await budget.acquire(100)
    cancelled = asyncio.create_task(budget.acquire(80))
    patient = asyncio.create_task(budget.acquire(20))
    await asyncio.sleep(0)
    cancelled.cancel()
    budget.release(100)
    await patient
    assert cancelled.cancelled() and budget.in_use == 20


# ----------------------------------------------------------------- upstream over a socket


@pytest.fixture
async def fake_nhn(aiohttp_server):
    """A real HTTP server on loopback: a large JSON answer, chunked or sized, and cookies."""
    seen_cookies: list[str | None] = []
    big = [{"name": f"object-{index:06d}", "bytes": index} for index in range(20_000)]
    big_body = json.dumps(big).encode()
    assert len(big_body) > SMALL_BODY

    async def sized(request):
        return web.Response(body=big_body, content_type="application/json")

    async def chunked(request):
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for start in range(0, len(big_body), 70_000):
            await response.write(big_body[start : start + 70_000])
        await response.write_eof()
        return response

    async def gzipped(request):  # a few hundred bytes on the wire, 300 KB decompressed
        return web.Response(
            body=gzip.compress(json.dumps(["a" * 300_000]).encode()),
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )

    async def cookie(request):
        seen_cookies.append(request.headers.get("Cookie"))
        response = web.json_response({})
        response.set_cookie("session", "of-the-first-caller")
        return response

    app = web.Application()
    app.router.add_get("/compute/sized", sized)
    app.router.add_get("/compute/chunked", chunked)
    app.router.add_get("/compute/gzip", gzipped)
    app.router.add_get("/compute/cookie", cookie)
    server = await aiohttp_server(app)
    server.big = big
    server.seen_cookies = seen_cookies
    return server


@pytest.fixture
async def upstream(fake_nhn):
    def make(**upstream_settings):
        settings = load_settings(
            environ={},
            overrides={
                "upstream": {
                    "endpoints": {"compute": str(fake_nhn.make_url("/compute"))},
                    **upstream_settings,
                }
            },
        )
        return Upstream(settings.upstream, settings.regions.allowed)

    made: list[Upstream] = []

    async def start(**upstream_settings):
        client = make(**upstream_settings)
        await client.start()
        made.append(client)
        return client

    yield start
    for client in made:
        await client.close()


CTX = NhnContext(request_id="test", region="kr1", token="t" * 32)


@pytest.mark.parametrize("path", ["/sized", "/chunked"])
async def test_large_answers_are_read_whole_within_a_small_budget(fake_nhn, upstream, path):
    client = await upstream(read_budget=1024)  # far below the answer: admitted alone
    answers = await asyncio.gather(
        *(client.request("compute", "GET", path, ctx=CTX) for _ in range(4))
    )
    for answer in answers:
        assert answer.json() == fake_nhn.big
    assert client._read_budget.in_use == 0


@pytest.mark.parametrize("path", ["/sized", "/chunked", "/gzip"])
async def test_an_answer_over_the_size_limit_is_refused(upstream, path):
    client = await upstream(max_body_size=100_000)
    with pytest.raises(UpstreamBadResponse, match="larger than allowed"):
        await client.request("compute", "GET", path, ctx=CTX)
    assert client._read_budget.in_use == 0


async def test_a_compressed_answer_is_read_decompressed(upstream):
    client = await upstream()
    answer = await client.request("compute", "GET", "/gzip", ctx=CTX)
    assert answer.json() == ["a" * 300_000]


async def test_a_cookie_nhn_sets_is_never_sent_back(fake_nhn, upstream):
    client = await upstream()
    await client.request("compute", "GET", "/cookie", ctx=CTX)
    await client.request("compute", "GET", "/cookie", ctx=CTX)
    assert fake_nhn.seen_cookies == [None, None]


# --------------------------------------------------------------------------- request ids


def test_request_ids_are_unique_and_look_like_uuid_hex():
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(len(value) == 32 and int(value, 16) >= 0 for value in ids)


def test_a_forked_worker_does_not_repeat_its_parents_request_ids():
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next id and leave at once
        os.write(write_end, new_request_id().encode())
        os._exit(0)
    os.close(write_end)
    child_id = os.read(read_end, 64).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    parent_id = new_request_id()
    assert len(child_id) == 32
    assert child_id[:16] != parent_id[:16]


# ---------------------------------------------------------------------- listing slots


async def test_listings_are_collected_at_most_listing_concurrency_at_once(upstream):
    client = await upstream(listing_concurrency=2)
    running = peak = 0
    release = asyncio.Event()

    async def fetch(marker):
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await release.wait()
        running -= 1
        return [{"id": 1}], None

    listings = [
        asyncio.create_task(
            collect_listing("servers", fetch, 5, service="compute", slot=client.listing_slot())
        )
        for _ in range(5)
    ]
    await asyncio.sleep(0.05)
    assert running == 2  # the other three wait for a slot
    release.set()
    for written in await asyncio.gather(*listings):
        assert json.loads(written) == {"servers": [{"id": 1}]}
    assert peak == 2


async def test_a_listing_that_waits_too_long_for_a_slot_is_503(upstream):
    client = await upstream(listing_concurrency=1, timeout=0.1)
    async with client.listing_slot():
        with pytest.raises(UpstreamUnavailable, match="too many large listings"):
            async with client.listing_slot():
                pass
    async with client.listing_slot():  # freed again, also after the refusal
        pass
