"""hvac's own KV v2 integration suite against a real Lockbox server.

crates/cli/tests/vault_hvac.rs runs hvac 2.4.0's
`tests/integration_tests/api/secrets_engines/test_kv_v2.py`, unmodified, from
hvac's source distribution, with this file as pytest's conftest. It sets
VAULT_ADDR (the server's `/vault`), VAULT_TOKEN (the owner's token) and
HVAC_SDIST (the unpacked source distribution).

hvac's `HvacIntegrationTestCase` starts, initializes and unseals a Vault server
for each test class. Here that start-up is replaced by a client of the Lockbox
server the Rust test started; nothing else of the suite changes. The suite
mounts a KV v2 engine at `kvv2/` before each test and unmounts it after. Lockbox
has one workspace mount, `secret/`, so the client's HTTP session maps `kvv2/` to
`secret/`, lists `kvv2/` among the mounts, and answers the mount and unmount calls
itself by doing what they do to a Vault engine's contents: every secret under
`secret/` is deleted and the engine configuration goes back to a new engine's
(max_versions 10, cas_required false, delete_version_after 0s), through
Lockbox's own Vault API.
"""

import json
import os
import sys
import urllib.parse

import hvac
import requests

VAULT_ADDR = os.environ["VAULT_ADDR"].rstrip("/")
VAULT_TOKEN = os.environ["VAULT_TOKEN"]
HVAC_SDIST = os.environ["HVAC_SDIST"]

API = urllib.parse.urlsplit(VAULT_ADDR).path + "/v1/"
SUITE_MOUNT = "kvv2"
LOCKBOX_MOUNT = "secret"


def _plain():
    s = requests.Session()
    s.headers["X-Vault-Token"] = VAULT_TOKEN
    return s


def _call(method, path, **kwargs):
    r = _plain().request(method, VAULT_ADDR + "/v1/" + path, **kwargs)
    return r


def _keys(folder):
    r = _call("LIST", f"{LOCKBOX_MOUNT}/metadata/{folder}")
    if r.status_code == 404:
        return []
    r.raise_for_status()
    return r.json()["data"]["keys"]


def empty_the_mount(folder=""):
    """Deletes every secret under `secret/` (what unmounting does to an engine's data)."""
    for key in _keys(folder):
        if key.endswith("/"):
            empty_the_mount(folder + key)
        else:
            r = _call("DELETE", f"{LOCKBOX_MOUNT}/metadata/{folder}{key}")
            assert r.status_code == 204, r.text


def reset_engine():
    empty_the_mount()
    r = _call(
        "POST",
        f"{LOCKBOX_MOUNT}/config",
        json={"max_versions": 10, "cas_required": False, "delete_version_after": "0s"},
    )
    assert r.status_code in (200, 204), r.text


def _answer(status, body=None):
    r = requests.Response()
    r.status_code = status
    r._content = b"" if body is None else json.dumps(body).encode()
    r.headers["Content-Type"] = "application/json"
    return r


class SuiteMountOnSecret(requests.Session):
    """The suite's `kvv2/` mount, served by Lockbox's `secret/`."""

    def request(self, method, url, *args, **kwargs):
        parts = urllib.parse.urlsplit(url)
        rel = parts.path[len(API):] if parts.path.startswith(API) else None
        if rel == f"sys/mounts/{SUITE_MOUNT}" and method.upper() in ("POST", "PUT", "DELETE"):
            reset_engine()
            return _answer(204)
        if rel is not None and rel.startswith(SUITE_MOUNT + "/"):
            path = API + LOCKBOX_MOUNT + rel[len(SUITE_MOUNT):]
            url = urllib.parse.urlunsplit(parts._replace(path=path))
        r = super().request(method, url, *args, **kwargs)
        if rel == "sys/mounts" and method.upper() == "GET" and r.status_code == 200:
            body = r.json()
            for where in (body, body.get("data") or {}):
                if f"{LOCKBOX_MOUNT}/" in where:
                    where[f"{SUITE_MOUNT}/"] = where[f"{LOCKBOX_MOUNT}/"]
            r._content = json.dumps(body).encode()
        return r


class LockboxServer:
    """Stands in for hvac's ServerManager: the Lockbox server is already running."""

    def __init__(self):
        self.root_token = VAULT_TOKEN
        self.client = hvac.Client(url=VAULT_ADDR, token=VAULT_TOKEN, session=SuiteMountOnSecret())

    def stop(self):
        self.client.adapter.close()


def pytest_configure(config):
    sys.path.insert(0, HVAC_SDIST)
    from tests import utils
    from tests.utils.hvac_integration_test_case import HvacIntegrationTestCase

    # The suite asks the `vault` binary for its version; ask the server instead.
    health = _plain().get(VAULT_ADDR + "/v1/sys/health").json()
    utils.get_vault_version_string.cache = health["version"]

    def set_up_class(cls):
        cls.manager = LockboxServer()

    def tear_down_class(cls):
        if cls.manager:
            cls.manager.stop()

    HvacIntegrationTestCase.setUpClass = classmethod(set_up_class)
    HvacIntegrationTestCase.tearDownClass = classmethod(tear_down_class)
