"""Objects end to end, over real sockets: uploads and downloads stream through the proxy to
the emulator's Swift and back.

- The streaming proof: 1 GiB, generated on the fly and never stored by the test, goes up
  through `nhn-proxy serve` (its own process, so its memory can be read from /proc) to
  the emulator (its own process too) and comes back down; the MD5 matches both ways and
  the proxy's resident memory, sampled all along, stays under 100 MB.
- A client that goes away mid-upload (sized or chunked) aborts the native transfer: the
  emulator refuses the short body and no object, or the previous version only, is left.
- Names with '/', spaces and Hangul, `detail`/`prefix`/`delimiter` listings, Content-MD5,
  Range (206, 416), If-None-Match (304), HEAD and DELETE; `storage.max_object_size`'s 413
  (announced or reached mid-way, nothing stored).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from nhn_proxy.emulator import DEMO_PASSWORD, DEMO_STORAGE_TENANT_ID, DEMO_USERNAME
from nhn_proxy.emulator import endpoints as emulator_endpoints
from tests.e2e.conftest import API, Stack, StackFactory, check_error, create_container
from tests.helpers import free_port

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
GIB = 1024 * MIB
MAX_PROXY_RSS_MB = 100.0
# the emulator keeps a large object in a temporary file: it needs no gigabyte of RAM either
MAX_EMULATOR_RSS_MB = 200.0
REGION = "kr1"
START_TIMEOUT = 20.0
HANGUL_NAME = "docs/2024/보고서 final (v2).txt"


# -- the proxy and the emulator as processes -----------------------------------------------------


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


class RssSampler:
    """The highest resident memory of a process, read every `interval` seconds by a thread
    (the event loop is busy with the transfer)."""

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.pid = pid
        self.interval = interval
        self.peak_mb = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak_mb = max(self.peak_mb, rss_mb(self.pid))
            self.samples += 1

    async def __aenter__(self) -> RssSampler:
        self.peak_mb = rss_mb(self.pid)
        self._thread.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_mb = max(self.peak_mb, rss_mb(self.pid))


@dataclass
class Processes:
    proxy_url: str
    proxy: subprocess.Popen[bytes]
    emulator: subprocess.Popen[bytes]
    session: aiohttp.ClientSession
    headers: dict[str, str]

    def url(self, container: str, name: str | None = None) -> str:
        path = f"{self.proxy_url}{API}/storage/containers/{quote(container, safe='')}"
        return f"{path}/objects/{quote(name, safe='/')}" if name is not None else f"{path}/"


def spawn(tmp_path: Path, name: str, *args: str) -> subprocess.Popen[bytes]:
    log = (tmp_path / f"{name}.log").open("wb")
    environment = {key: value for key, value in os.environ.items() if key[:10] != "NHN_PROXY_"}
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "nhn_proxy", *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=environment,
            cwd=ROOT,
        )
    finally:
        log.close()


async def wait_answering(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(url) as response:
                    await response.read()
                    return
            except aiohttp.ClientConnectionError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer: {log.read_text()[-2000:]}")
            await asyncio.sleep(0.05)


def stop(process: subprocess.Popen[bytes]) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    return process.returncode


@pytest.fixture
async def processes(tmp_path: Path) -> AsyncIterator[Processes]:
    """`nhn-proxy emulator` and `nhn-proxy serve --config FILE` pointed at it, each in its
    own process, and a storage token of the demo user."""
    quiet = tmp_path / "quiet.toml"
    quiet.write_text('[logging]\nlevel = "WARNING"\n')
    emulator_port, proxy_port = free_port(), free_port()
    emulator = spawn(
        tmp_path, "emulator", "emulator", "--config", str(quiet), "--port", str(emulator_port)
    )
    proxy = None
    try:
        emulator_url = f"http://127.0.0.1:{emulator_port}"
        await wait_answering(f"{emulator_url}/_emulator", emulator, tmp_path / "emulator.log")
        block = "\n".join(
            f'{service} = "{url}"' for service, url in emulator_endpoints(emulator_url).items()
        )
        config = tmp_path / "proxy.toml"
        config.write_text(
            '[server]\nhost = "127.0.0.1"\n\n[logging]\nlevel = "WARNING"\n\n'
            f"[upstream.endpoints]\n{block}\n"
        )
        proxy = spawn(
            tmp_path, "proxy", "serve", "--config", str(config), "--port", str(proxy_port)
        )
        proxy_url = f"http://127.0.0.1:{proxy_port}"
        await wait_answering(f"{proxy_url}/healthz", proxy, tmp_path / "proxy.log")
        timeout = aiohttp.ClientTimeout(total=300, sock_read=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            body = {
                "tenant_id": DEMO_STORAGE_TENANT_ID,
                "username": DEMO_USERNAME,
                "password": DEMO_PASSWORD,
            }
            async with session.post(f"{proxy_url}{API}/token/", json=body) as response:
                assert response.status == 200, await response.text()
                token = await response.json()
            headers = {
                "X-NHN-Token": token["token"],
                "X-NHN-Region": REGION,
                "X-NHN-Storage-Account": token["storage_account"],
            }
            yield Processes(proxy_url, proxy, emulator, session, headers)
    finally:
        codes = {"proxy": stop(proxy) if proxy else None, "emulator": stop(emulator)}
    assert codes == {"proxy": 0, "emulator": 0}, (tmp_path / "proxy.log").read_text()[-2000:]


# -- data made on the fly ----------------------------------------------------------------------


class Generated:
    """`size` bytes in 1 MiB pieces, each different (its index in front of one random
    block), made while they are sent and hashed on the way; nothing is kept."""

    def __init__(self, size: int, seed: int = 12) -> None:
        assert size % MIB == 0
        self.size = size
        self._block = random.Random(seed).randbytes(MIB)
        self.md5 = hashlib.md5()

    async def pieces(self) -> AsyncIterator[bytes]:
        for index in range(self.size // MIB):
            piece = index.to_bytes(8, "big") + self._block[8:]
            self.md5.update(piece)
            yield piece


# -- the streaming proof ----------------------------------------------------------------------


async def test_one_gib_streams_up_and_down_through_the_proxy_in_little_memory(processes):
    stack = processes
    session, headers = stack.session, stack.headers
    async with session.post(
        f"{stack.proxy_url}{API}/storage/containers/create/", json={"name": "big"}, headers=headers
    ) as response:
        assert response.status == 201
    url = stack.url("big", "backups/2024/disk image.bin")
    idle_mb = rss_mb(stack.proxy.pid)

    data = Generated(GIB)
    sized = {**headers, "Content-Length": str(GIB), "Content-Type": "application/x-raw-disk"}
    async with RssSampler(stack.proxy.pid) as up_memory, RssSampler(stack.emulator.pid) as emu:
        started = time.perf_counter()
        async with session.put(url, data=data.pieces(), headers=sized) as response:
            answer = await response.json()
        up_seconds = time.perf_counter() - started
    assert response.status == 201, answer
    sent_md5 = data.md5.hexdigest()
    assert answer == {
        "object": {"name": "backups/2024/disk image.bin", "bytes": GIB, "hash": sent_md5}
    }

    received = hashlib.md5()
    count = 0
    async with RssSampler(stack.proxy.pid) as down_memory:
        started = time.perf_counter()
        async with session.get(url, headers=headers) as response:
            assert response.status == 200
            assert response.headers["Content-Length"] == str(GIB)
            assert response.headers["Content-Type"] == "application/x-raw-disk"
            assert response.headers["ETag"] == sent_md5
            assert response.headers["Last-Modified"].endswith(" GMT")
            async for piece in response.content.iter_chunked(MIB):
                received.update(piece)
                count += len(piece)
        down_seconds = time.perf_counter() - started
    assert count == GIB
    assert received.hexdigest() == sent_md5

    print(
        f"\n1 GiB through the proxy: up {GIB / up_seconds / 1e6:.0f} MB/s, "
        f"down {GIB / down_seconds / 1e6:.0f} MB/s; proxy RSS idle {idle_mb:.1f} MB, "
        f"peak {up_memory.peak_mb:.1f} MB up ({up_memory.samples} samples), "
        f"{down_memory.peak_mb:.1f} MB down ({down_memory.samples} samples); "
        f"emulator peak {emu.peak_mb:.1f} MB"
    )
    assert up_memory.samples > 10 and down_memory.samples > 10
    assert up_memory.peak_mb < MAX_PROXY_RSS_MB
    assert down_memory.peak_mb < MAX_PROXY_RSS_MB
    assert emu.peak_mb < MAX_EMULATOR_RSS_MB

    async with session.head(url, headers=headers) as response:
        assert response.status == 200
        assert response.headers["Content-Length"] == str(GIB)
        assert response.headers["ETag"] == sent_md5
        assert await response.read() == b""
    async with session.delete(url, headers=headers) as response:
        assert response.status == 204
    async with session.head(url, headers=headers) as response:
        assert response.status == 404


# -- the rest, through the proxy in front of the emulator (tests/e2e/conftest.py) --------------


async def storage_session(stack: Stack) -> tuple[aiohttp.ClientSession, dict[str, str]]:
    return stack.session, await stack.headers("storage")


def object_url(stack: Stack, container: str, name: str) -> str:
    return f"{stack.proxy_url}{API}/storage/containers/{container}/objects/{quote(name, safe='/')}"


async def put(stack: Stack, container: str, name: str, data: Any, **headers: str):
    session, sent = await storage_session(stack)
    async with session.put(
        object_url(stack, container, name), data=data, headers={**sent, **headers}
    ) as response:
        return response.status, await response.json()


async def native_puts(stack: Stack, container: str) -> list[dict[str, Any]]:
    """The emulator's journal of PUTs of objects of `container` (oldest first)."""
    prefix = stack.storage_path(f"/{container}/")
    return [
        entry
        for entry in await stack.native_requests(method="PUT")
        if entry["path"].startswith(prefix)
    ]


async def answered_puts(stack: Stack, container: str, count: int) -> list[dict[str, Any]]:
    """The object PUTs of `container` once the emulator has answered `count` of them."""

    async def probe() -> list[dict[str, Any]]:
        return await native_puts(stack, container)

    return await stack.wait_for(
        probe,
        lambda entries: len(entries) >= count and all(e["status"] for e in entries),
        what=f"{count} answered PUTs",
    )


async def test_objects_with_folders_spaces_and_hangul(stack):
    await create_container(stack, "docs")
    session, headers = await storage_session(stack)
    content = "보고서 내용\n".encode() * 100
    digest = hashlib.md5(content).digest()
    status, answer = await put(
        stack, "docs", HANGUL_NAME, content, **{"Content-MD5": base64.b64encode(digest).decode()}
    )
    assert status == 201, answer
    assert answer == {"object": {"name": HANGUL_NAME, "bytes": len(content), "hash": digest.hex()}}
    # NHN got the name once encoded, segment by segment, with its MD5 to check
    (entry,) = await native_puts(stack, "docs")
    assert entry["path"] == stack.storage_path(
        "/docs/docs/2024/%EB%B3%B4%EA%B3%A0%EC%84%9C%20final%20%28v2%29.txt"
    )
    sent = {name.lower(): value for name, value in entry["headers"].items()}
    assert sent["etag"] == digest.hex()
    assert sent["content-length"] == str(len(content))
    assert sent["content-type"] == "application/octet-stream"  # as aiohttp's client sent it
    # without a Content-Type (curl -T sends none) the type is guessed from the name
    async with session.put(
        object_url(stack, "docs", "docs/readme.txt"),
        data=b"# hi\n",
        headers=headers,
        skip_auto_headers=("Content-Type",),
    ) as response:
        assert response.status == 201
    async with session.get(object_url(stack, "docs", HANGUL_NAME), headers=headers) as response:
        assert response.headers["Content-Type"] == "application/octet-stream"  # as sent
    assert (await put(stack, "docs", "top.txt", b"top"))[0] == 201

    listed = (await stack.get("/storage/containers/docs/", "storage")).expect(200)
    assert listed == {"objects": [HANGUL_NAME, "docs/readme.txt", "top.txt"]}
    folders = await stack.get("/storage/containers/docs/?delimiter=/", "storage")
    assert folders.expect(200) == {"objects": [{"prefix": "docs/"}, "top.txt"]}
    inside = await stack.get(
        "/storage/containers/docs/?prefix=docs/&delimiter=/&detail=true", "storage"
    )
    assert inside.expect(200) == {"objects": [{"prefix": "docs/2024/"}, inside.body["objects"][1]]}
    readme = inside.body["objects"][1]
    assert readme["name"] == "docs/readme.txt" and readme["bytes"] == 5
    assert readme["hash"] == hashlib.md5(b"# hi\n").hexdigest()
    assert readme["content_type"] == "text/plain"  # guessed from ".txt"
    page = await stack.get("/storage/containers/docs/?limit=1&marker=docs/readme.txt", "storage")
    assert page.expect(200) == {"objects": ["top.txt"]}

    url = object_url(stack, "docs", HANGUL_NAME)
    async with session.get(url, headers=headers) as response:
        assert response.status == 200
        assert await response.read() == content
        assert response.headers["ETag"] == digest.hex()
    async with session.get(url, headers={**headers, "Range": "bytes=0-15"}) as response:
        assert response.status == 206
        assert response.headers["Content-Range"] == f"bytes 0-15/{len(content)}"
        assert response.headers["Accept-Ranges"] == "bytes"
        assert (await response.read()).decode() == "보고서 내용"
    async with session.get(url, headers={**headers, "Range": "bytes=-7"}) as response:
        assert response.status == 206 and (await response.read()).decode() == "내용\n"
    async with session.get(url, headers={**headers, "Range": "bytes=99999-"}) as response:
        assert response.status == 416
        assert (await response.json())["code"] == 416
    async with session.get(url, headers={**headers, "If-None-Match": digest.hex()}) as response:
        assert response.status == 304
        assert await response.read() == b""
        assert response.headers["ETag"] == digest.hex()
    async with session.get(url, headers={**headers, "If-None-Match": '"old"'}) as response:
        assert response.status == 200 and len(await response.read()) == len(content)
    async with session.head(url, headers=headers) as response:
        assert response.status == 200
        assert await response.read() == b""
        assert response.headers["Content-Length"] == str(len(content))
        assert response.headers["ETag"] == digest.hex()
        assert response.headers["Last-Modified"].endswith(" GMT")

    wrong = await put(stack, "docs", "wrong.txt", b"abc", ETag=hashlib.md5(b"abd").hexdigest())
    assert wrong[0] == 422  # NHN checked the bytes against the digest
    async with session.get(object_url(stack, "docs", "wrong.txt"), headers=headers) as response:
        assert response.status == 404

    for name in (HANGUL_NAME, "docs/readme.txt", "top.txt"):
        async with session.delete(object_url(stack, "docs", name), headers=headers) as response:
            assert response.status == 204
    async with session.delete(object_url(stack, "docs", "top.txt"), headers=headers) as response:
        assert response.status == 404
    assert (await stack.get("/storage/containers/docs/", "storage")).expect(200) == {"objects": []}
    (await stack.delete("/storage/containers/docs/", "storage")).expect(204)


async def test_a_chunked_upload_streams_too(stack):
    await create_container(stack, "chunks")
    data = Generated(8 * MIB, seed=3)
    status, answer = await put(stack, "chunks", "x/data.bin", data.pieces())
    assert status == 201, answer
    assert answer["object"]["hash"] == data.md5.hexdigest()
    assert answer["object"]["bytes"] == 8 * MIB
    (entry,) = await native_puts(stack, "chunks")
    assert entry["headers"].get("Transfer-Encoding") == "chunked"
    assert "Content-Length" not in entry["headers"]


async def send_and_hang_up(stack: Stack, target: str, head: list[str], body: bytes) -> None:
    """A client that sends the start of an upload to the proxy, then goes away."""
    host, port = stack.proxy_url.removeprefix("http://").split(":")
    _reader, writer = await asyncio.open_connection(host, int(port))
    headers = await stack.headers("storage")
    lines = [f"PUT {target} HTTP/1.1", "Host: localhost"]
    lines += [f"{name}: {value}" for name, value in headers.items()] + head
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
    await writer.drain()
    # the proxy has passed some of it on before the client leaves
    await asyncio.sleep(0.3)
    writer.close()


@pytest.mark.parametrize("chunked", [False, True], ids=["sized", "chunked"])
async def test_a_client_that_leaves_mid_upload_aborts_the_native_transfer(stack, chunked):
    await create_container(stack, "cut")
    assert (await put(stack, "cut", "kept.bin", b"version 1"))[0] == 201
    target = f"{API}/storage/containers/cut/objects/"
    piece = b"z" * (2 * MIB)
    for name in ("new.bin", "kept.bin"):
        if chunked:
            head, body = ["Transfer-Encoding: chunked"], f"{len(piece):x}\r\n".encode() + piece
        else:
            head, body = [f"Content-Length: {8 * MIB}"], piece
        await send_and_hang_up(stack, target + name, head, body)
    entries = await answered_puts(stack, "cut", 3)
    # the emulator got the start of each, and no end: Swift's 499 Client Disconnect
    assert [entry["status"] for entry in entries] == [201, 499, 499]
    session, headers = await storage_session(stack)
    async with session.head(object_url(stack, "cut", "new.bin"), headers=headers) as response:
        assert response.status == 404  # nothing half-written looks complete
    async with session.get(object_url(stack, "cut", "kept.bin"), headers=headers) as response:
        assert await response.read() == b"version 1"  # the previous version stays whole
    listed = await stack.get("/storage/containers/cut/?detail=true", "storage")
    assert [item["name"] for item in listed.expect(200)["objects"]] == ["kept.bin"]


async def test_max_object_size_is_413_before_or_while_uploading(make_stack: StackFactory):
    stack = await make_stack(settings={"storage": {"max_object_size": MIB}})
    await create_container(stack, "small")
    await stack.clear_requests()
    session, headers = await storage_session(stack)
    url = object_url(stack, "small", "too/big.bin")
    async with session.put(url, data=b"x" * (MIB + 1), headers=headers) as response:
        message = check_error(await reply_of(response), 413, "storage.max_object_size", "segments")
    assert str(MIB) in message
    assert await native_puts(stack, "small") == []  # refused before NHN was asked

    over = Generated(2 * MIB)
    async with session.put(url, data=over.pieces(), headers=headers) as response:
        check_error(await reply_of(response), 413, "storage.max_object_size")
    (entry,) = await answered_puts(stack, "small", 1)
    assert entry["status"] == 499  # the native transfer was cut, not completed
    async with session.head(url, headers=headers) as response:
        assert response.status == 404

    at_limit = Generated(MIB)
    async with session.put(url, data=at_limit.pieces(), headers=headers) as response:
        assert response.status == 201


async def reply_of(response: aiohttp.ClientResponse) -> Any:
    from tests.e2e.conftest import Reply

    text = await response.text()
    body = await response.json() if response.content_type == "application/json" else None
    return Reply(response.status, response.headers.copy(), text, body)


async def test_a_small_download_nhn_breaks_off_is_a_clean_502(stack):
    """An object no larger than one streamed piece is read before the status goes out, so
    a body NHN cuts short is still answered in the standard error shape."""
    await create_container(stack, "frail")
    assert (await put(stack, "frail", "a.txt", b"fine"))[0] == 201
    await stack.fault(service="object_storage", method="GET", action="truncated", times=1)
    session, headers = await storage_session(stack)
    url = object_url(stack, "frail", "a.txt")
    async with session.get(url, headers=headers) as response:
        check_error(await reply_of(response), 502, "object_storage", "truncated")
    async with session.get(url, headers=headers) as response:
        assert response.status == 200 and await response.read() == b"fine"
