"""Logging: one access line and one upstream line per call, bodies at DEBUG, and never a
password, token, kubeconfig or private key in any record (text and JSON formats)."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from nhn_proxy.app import create_app
from nhn_proxy.logs import MASK, redact, setup_logging
from nhn_proxy.settings import LoggingSettings, load_settings
from tests.conftest import COMPUTE_KR2, IDENTITY, KUBERNETES_KR2, TENANT, compute_headers

PASSWORD = "Sup3r-Secret-Pa55"
ISSUED_TOKEN = "f00dfeedf00dfeedf00dfeedf00dfeed"
PRIVATE_KEY = (
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAs3cr3t\n-----END RSA PRIVATE KEY-----\n"
)
KUBECONFIG = (
    "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: Q0FDQUNB\n"
    "users:\n- name: admin\n  user:\n    client-certificate-data: Q0VSVENFUlQ=\n"
    "    client-key-data: S0VZS0VZS0VZ\n"
)
SECRETS = (PASSWORD, ISSUED_TOKEN, "MIIEowIBAAKCAQEAs3cr3t", "S0VZS0VZS0VZ", "Q0VSVENFUlQ=")
TOKEN_ANSWER = {
    "access": {
        "token": {"id": ISSUED_TOKEN, "expires": "2030-01-01T00:00:00Z", "tenant": {"id": TENANT}},
        "serviceCatalog": [],
    }
}
SERVER = {
    "id": "3a005d5b-63cf-4493-bfc6-49db990b5b50",
    "name": "web-01",
    "status": "ACTIVE",
    "created": "2024-01-01T00:00:00Z",
    "addresses": {"Default Network": [{"addr": "192.168.0.10", "version": 4}]},
    "flavor": {"id": "f-1"},
    "image": {"id": "i-1"},
    "adminPass": "ServerRootPassw0rd",
}


@pytest.fixture(params=["text", "json"])
def log_output(request):
    stream = io.StringIO()
    setup_logging(LoggingSettings(level="DEBUG", format=request.param), stream=stream)
    yield stream, request.param
    setup_logging(LoggingSettings(level="WARNING", format="text"), stream=io.StringIO())


async def test_full_scenario_at_debug_leaks_no_secret(aiohttp_client, nhn, log_output, caplog):
    stream, log_format = log_output
    caplog.set_level(logging.DEBUG)
    client = await aiohttp_client(create_app(load_settings(environ={})))
    nhn.post(f"{IDENTITY}/v2.0/tokens", payload=TOKEN_ANSWER)
    nhn.get(
        f"{COMPUTE_KR2}/flavors/detail",
        payload={"flavors": [{"id": "f-1", "name": "m2.c2m4", "vcpus": 2, "ram": 4096, "disk": 0}]},
    )
    nhn.post(
        f"{COMPUTE_KR2}/servers",
        status=202,
        payload={"server": {"id": SERVER["id"], "adminPass": "ServerRootPassw0rd", "links": []}},
    )
    nhn.get(f"{COMPUTE_KR2}/servers/{SERVER['id']}", payload={"server": SERVER})
    nhn.get(
        f"{COMPUTE_KR2}/os-keypairs",
        payload={
            "keypairs": [
                {
                    "keypair": {
                        "name": "k",
                        "public_key": "ssh-rsa AAAA",
                        "fingerprint": "x",
                        "private_key": PRIVATE_KEY,
                    }
                }
            ]
        },
    )
    nhn.get(f"{KUBERNETES_KR2}/v1/clusters/c1/config", payload={"config": KUBECONFIG})
    # a hostile upstream echoing the token inside an error message
    nhn.delete(
        f"{COMPUTE_KR2}/servers/{SERVER['id']}",
        status=404,
        payload={"itemNotFound": {"code": 404, "message": f"token {ISSUED_TOKEN} has no server"}},
    )

    response = await client.post(
        "/api/nhn/token/",
        json={"tenant_id": TENANT, "username": "user@example.com", "password": PASSWORD},
    )
    assert response.status == 200
    headers = {**compute_headers(), "X-NHN-Token": ISSUED_TOKEN}
    create = {
        "name": "web-01",
        "image_id": "i-1",
        "flavor_id": "f-1",
        "subnet_id": "s-1",
        "keypair_name": "k",
    }
    assert (
        await client.post("/api/nhn/compute/instances/create/", json=create, headers=headers)
    ).status == 201
    assert (
        await client.get(f"/api/nhn/compute/instances/{SERVER['id']}/", headers=headers)
    ).status == 200
    assert (await client.get("/api/nhn/compute/keypairs/", headers=headers)).status == 200
    config = await client.get(
        "/api/nhn/nks/clusters/c1/config/",
        headers={"X-NHN-Token": ISSUED_TOKEN, "X-NHN-Region": "kr2"},
    )
    assert config.status == 200
    deleted = await client.delete(f"/api/nhn/compute/instances/{SERVER['id']}/", headers=headers)
    assert deleted.status == 404
    # the proxy masks the echoed token in the error body too (tests/e2e/test_secrets.py)
    assert ISSUED_TOKEN not in await deleted.text()

    output = stream.getvalue()
    records = [
        record.getMessage() + json.dumps(getattr(record, "fields", None), default=str)
        for record in caplog.records
    ]
    for secret in (*SECRETS, "ServerRootPassw0rd"):
        assert secret not in output, f"{secret!r} leaked into the {log_format} log"
        for text in records:
            assert secret not in text, f"{secret!r} leaked into a log record"
    # the log is still useful: one access line per request, one line per upstream call
    lines = output.strip().splitlines()
    access = [line for line in lines if "nhn_proxy.access" in line]
    upstream = [line for line in lines if "nhn_proxy.upstream" in line and "upstream call" in line]
    assert len(access) == 6
    assert len(upstream) == 7
    assert MASK in output
    if log_format == "json":
        entries = [json.loads(line) for line in lines]
        first_access = next(e for e in entries if e["logger"] == "nhn_proxy.access")
        assert {"request_id", "method", "path", "status", "duration_ms"} <= set(first_access)
        assert first_access["body"]["password"] == MASK if "body" in first_access else True
        calls = [e for e in entries if e["logger"] == "nhn_proxy.upstream" and "url" in e]
        assert {"service", "method", "url", "status", "duration_ms", "request_id"} <= set(calls[0])
    else:
        assert re.search(
            r"nhn_proxy\.access request .*method=POST path=/api/nhn/token/ status=200", output
        )


def test_redact_masks_secret_fields_and_token_ids():
    body = {
        "auth": {"passwordCredentials": {"username": "u", "password": "p"}},
        "access": {"token": {"id": "t0k3n", "expires": "x"}, "user": {"id": "user-id"}},
        "config": "apiVersion: v1",
        "keypair": {"private_key": PRIVATE_KEY, "name": "k"},
        "list": [{"X-Auth-Token": "abc"}],
    }
    assert redact(body) == {
        "auth": {"passwordCredentials": {"username": "u", "password": MASK}},
        "access": {"token": {"id": MASK, "expires": "x"}, "user": {"id": "user-id"}},
        "config": MASK,
        "keypair": {"private_key": MASK, "name": "k"},
        "list": [{"X-Auth-Token": MASK}],
    }
