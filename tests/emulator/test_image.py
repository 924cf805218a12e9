"""Image (Glance v2): list, filters, paging and WebOb-style errors."""

from __future__ import annotations

from .doc_examples import EXAMPLES
from .shapes import assert_conforms

IMAGES = "/kr1/image/v2/images"


async def test_image_list_matches_documented_example(emu):
    body = await emu.json("GET", IMAGES)
    documented = {k: v for k, v in EXAMPLES["images"].items() if k != "next"}
    assert_conforms(body, documented)
    names = [i["name"] for i in body["images"]]
    assert any(n.startswith("Ubuntu") for n in names)
    assert any(n.startswith("Rocky") for n in names)
    assert any(n.startswith("Windows") for n in names)
    assert "next" not in body
    assert all(i["created_at"].endswith("Z") for i in body["images"])


async def test_paging_with_limit_marker_and_next(emu):
    everything = (await emu.json("GET", IMAGES))["images"]
    seen = []
    path, params = IMAGES, {"limit": "4"}
    while True:
        body = await emu.json("GET", path, params=params)
        seen += [i["id"] for i in body["images"]]
        if "next" not in body:
            break
        assert body["next"].startswith("/v2/images?")
        path, params = "/kr1/image" + body["next"], None
    assert seen == [i["id"] for i in everything]


async def test_filters(emu):
    nks = await emu.json(
        "GET", IMAGES, params={"nhncloud_allow_nks_cpu_flavor": "true", "visibility": "public"}
    )
    assert nks["images"] and all(
        i["nhncloud_allow_nks_cpu_flavor"] == "true" for i in nks["images"]
    )
    windows = await emu.json("GET", IMAGES, params={"os_type": "windows"})
    assert windows["images"] and all(i["min_disk"] >= 50 for i in windows["images"])
    named = await emu.json("GET", IMAGES, params={"name": "Rocky Linux 9.4 (2024.09.24)"})
    assert [i["name"] for i in named["images"]] == ["Rocky Linux 9.4 (2024.09.24)"]
    assert (await emu.json("GET", IMAGES, params={"status": "queued"}))["images"] == []
    assert (await emu.call("GET", IMAGES, params={"visibility": "weird"})).status == 400
    by_name = await emu.json("GET", IMAGES, params={"sort_key": "name", "sort_dir": "asc"})
    names = [i["name"] for i in by_name["images"]]
    assert names == sorted(names)


async def test_get_image_and_404_page(emu):
    image = await emu.image()
    one = await emu.json("GET", f"{IMAGES}/{image['id']}")
    assert one == image
    missing = await emu.call("GET", f"{IMAGES}/1c868787-6207-4ff2-a1e7-ae1331d6829b")
    assert missing.status == 404
    assert missing.headers["Content-Type"] == "text/html; charset=UTF-8"
    text = await missing.text()
    assert "<title>404 Not Found</title>" in text
    assert "No image found with ID 1c868787-6207-4ff2-a1e7-ae1331d6829b" in text
    as_json = await emu.call("GET", f"{IMAGES}/nope", headers={"Accept": "application/json"})
    assert await as_json.json() == {
        "message": "No image found with ID nope",
        "code": "404 Not Found",
        "title": "Not Found",
    }


async def test_unemulated_image_endpoint_is_501(emu):
    response = await emu.call("POST", IMAGES, json={"name": "x", "os_type": "linux"})
    assert response.status == 501
    assert "501 Not Implemented" in await response.text()
