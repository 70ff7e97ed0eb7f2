"""hvac, unmodified, against a real `lockbox server` through its Vault KV v2 API.

Run by crates/cli/tests/vault_hvac.rs, which starts the server and sets VAULT_ADDR
(…/vault), VAULT_TOKEN, LOCKBOX_ADDR and LOCKBOX_TOKEN. Every case also checks
through Lockbox's native API that the same secret holds the same value.
"""

import contextlib
import io
import json
import os
import pathlib
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import hvac
import pytest

VAULT_ADDR = os.environ["VAULT_ADDR"]
VAULT_TOKEN = os.environ["VAULT_TOKEN"]
LOCKBOX_ADDR = os.environ["LOCKBOX_ADDR"]
LOCKBOX_TOKEN = os.environ.get("LOCKBOX_TOKEN", VAULT_TOKEN)
README = pathlib.Path(__file__).resolve().parents[4] / "README.md"


# ---- native API helpers (plain urllib: nothing beyond hvac and pytest) --------------


def native(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(LOCKBOX_ADDR + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + LOCKBOX_TOKEN)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def secret_path(name):
    return "/v1/workspaces/default/secrets/" + urllib.parse.quote(name, safe="")


def native_value(name):
    """The value natively revealed, or None when Lockbox says not_found."""
    status, body = native("POST", secret_path(name) + "/reveal")
    if status == 404:
        assert body["error"] == "not_found"
        return None
    assert status == 200, body
    return body["value"]


def native_meta(name):
    status, body = native("GET", secret_path(name))
    return body if status == 200 else None


# ---- fixtures ------------------------------------------------------------------------


@pytest.fixture
def client():
    return hvac.Client(url=VAULT_ADDR, token=VAULT_TOKEN)


@pytest.fixture
def name():
    return "hvac/" + uuid.uuid4().hex[:10]


def read(client, path, version=None):
    return client.secrets.kv.v2.read_secret_version(
        path=path, version=version, raise_on_deleted_version=True
    )


# ---- the README snippet, as printed --------------------------------------------------


def test_readme_snippet_works_as_printed():
    text = README.read_text()
    section = text.split("## Using Vault clients", 1)[1]
    snippet = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(snippet, "README.md", "exec"), {})
    assert out.getvalue().strip() == "sk_live_51abc"
    assert native_value("stripe/live")["api_key"] == "sk_live_51abc"


# ---- KV v2 --------------------------------------------------------------------------


def test_create_and_read_latest_and_by_version(client, name):
    r = client.secrets.kv.v2.create_or_update_secret(path=name, secret={"k": "one"})
    assert r["data"]["version"] == 1
    assert r["request_id"] and r["lease_id"] == "" and r["renewable"] is False
    client.secrets.kv.v2.create_or_update_secret(path=name, secret={"k": "two"})
    latest = read(client, name)
    assert latest["data"]["data"] == {"k": "two"}
    assert latest["data"]["metadata"]["version"] == 2
    assert read(client, name, version=1)["data"]["data"] == {"k": "one"}
    assert native_value(name) == {"k": "two"}
    with pytest.raises(hvac.exceptions.InvalidPath):
        read(client, name + "-missing")


def test_cas_success_and_failure(client, name):
    client.secrets.kv.v2.create_or_update_secret(path=name, secret={"v": "1"}, cas=0)
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        client.secrets.kv.v2.create_or_update_secret(path=name, secret={"v": "x"}, cas=0)
    assert "check-and-set parameter did not match the current version" in str(e.value)
    r = client.secrets.kv.v2.create_or_update_secret(path=name, secret={"v": "2"}, cas=1)
    assert r["data"]["version"] == 2
    with pytest.raises(hvac.exceptions.InvalidRequest):
        client.secrets.kv.v2.create_or_update_secret(path=name, secret={"v": "x"}, cas=1)
    assert native_value(name) == {"v": "2"}


def test_patch(client, name):
    client.secrets.kv.v2.create_or_update_secret(path=name, secret={"a": "1", "b": "2"})
    # hvac's patch (read, then write with cas); its read warns about a default
    # hvac itself will change.
    with pytest.warns(DeprecationWarning):
        client.secrets.kv.v2.patch(path=name, secret={"b": "two"})
    assert native_value(name) == {"a": "1", "b": "two"}
    # The real PATCH method with a merge patch.
    r = client.adapter.request(
        "PATCH",
        "/v1/secret/data/" + name,
        json={"data": {"a": None, "c": "3"}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert r["data"]["version"] == 3
    assert native_value(name) == {"b": "two", "c": "3"}
    # Without the merge-patch Content-Type: 415 (hvac's UnexpectedError), nothing written.
    with pytest.raises(hvac.exceptions.UnexpectedError) as e:
        client.adapter.request(
            "PATCH",
            "/v1/secret/data/" + name,
            json={"data": {"a": "x"}},
            headers={"Content-Type": "application/json"},
        )
    assert "unsupported_media_type" in str(e.value)
    assert native_value(name) == {"b": "two", "c": "3"}


def test_list(client, name):
    for leaf in ["db", "api", "deep/x"]:
        client.secrets.kv.v2.create_or_update_secret(path=f"{name}/{leaf}", secret={"k": "v"})
    assert client.secrets.kv.v2.list_secrets(path=name)["data"]["keys"] == ["api", "db", "deep/"]
    assert name.split("/")[1] + "/" in client.secrets.kv.v2.list_secrets(path="hvac")["data"]["keys"]
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.secrets.kv.v2.list_secrets(path=name + "/nothing")
    status, body = native("GET", "/v1/workspaces/default/secrets?prefix=" + urllib.parse.quote(name + "/"))
    assert sorted(s["name"] for s in body["secrets"]) == [f"{name}/api", f"{name}/db", f"{name}/deep/x"]


def test_soft_delete_and_undelete(client, name):
    client.secrets.kv.v2.create_or_update_secret(path=name, secret={"v": "1"})
    client.secrets.kv.v2.create_or_update_secret(path=name, secret={"v": "2"})
    client.secrets.kv.v2.delete_latest_version_of_secret(path=name)
    with pytest.raises(hvac.exceptions.InvalidPath):
        read(client, name)
    # Without raising, hvac hands back the 404's envelope and metadata.
    r = client.secrets.kv.v2.read_secret_version(path=name, raise_on_deleted_version=False)
    assert r["data"]["data"] is None
    assert r["data"]["metadata"]["deletion_time"] != ""
    assert native_value(name) is None
    client.secrets.kv.v2.delete_secret_versions(path=name, versions=[1])
    with pytest.raises(hvac.exceptions.InvalidPath):
        read(client, name, version=1)
    client.secrets.kv.v2.undelete_secret_versions(path=name, versions=[1, 2])
    assert read(client, name)["data"]["data"] == {"v": "2"}
    assert read(client, name, version=1)["data"]["data"] == {"v": "1"}
    assert native_value(name) == {"v": "2"}


def test_destroy(client, name):
    client.secrets.kv.v2.create_or_update_secret(path=name, secret={"v": "1"})
    client.secrets.kv.v2.create_or_update_secret(path=name, secret={"v": "2"})
    client.secrets.kv.v2.destroy_secret_versions(path=name, versions=[1])
    with pytest.raises(hvac.exceptions.InvalidPath):
        read(client, name, version=1)
    meta = client.secrets.kv.v2.read_secret_metadata(path=name)["data"]
    assert meta["versions"]["1"]["destroyed"] is True
    assert meta["versions"]["2"]["destroyed"] is False
    # Undeleting a destroyed version does nothing, as in Vault.
    client.secrets.kv.v2.undelete_secret_versions(path=name, versions=[1])
    with pytest.raises(hvac.exceptions.InvalidPath):
        read(client, name, version=1)
    assert native_value(name) == {"v": "2"}
    status, body = native("GET", secret_path(name) + "/versions")
    assert {v["version"]: v["destroyed"] for v in body["versions"]} == {1: True, 2: False}


def test_metadata_read_update_delete(client, name):
    client.secrets.kv.v2.create_or_update_secret(path=name, secret={"v": "1"})
    r = client.secrets.kv.v2.update_metadata(
        path=name,
        max_versions=5,
        custom_metadata={"team": "infra", "lockbox.visibility": "restricted"},
    )
    # The reserved key is dropped, and said so.
    assert "lockbox." in r["warnings"][0]
    meta = client.secrets.kv.v2.read_secret_metadata(path=name)["data"]
    assert meta["max_versions"] == 5
    assert meta["current_version"] == 1
    # custom_metadata reads back as written; Lockbox's facts stand beside it.
    assert meta["custom_metadata"] == {"team": "infra"}
    assert meta["lockbox"]["visibility"] == "masked"
    assert meta["lockbox"]["fingerprint"] == native_meta(name)["fingerprint"]
    assert native_meta(name)["labels"] == {"team": "infra"}
    client.secrets.kv.v2.delete_metadata_and_all_versions(path=name)
    with pytest.raises(hvac.exceptions.InvalidPath):
        client.secrets.kv.v2.read_secret_metadata(path=name)
    assert native_meta(name) is None
    assert native_value(name) is None


def test_cas_required(client, name):
    client.secrets.kv.v2.create_or_update_secret(path=name, secret={"v": "1"})
    client.secrets.kv.v2.update_metadata(path=name, cas_required=True)
    assert client.secrets.kv.v2.read_secret_metadata(path=name)["data"]["cas_required"] is True
    with pytest.raises(hvac.exceptions.InvalidRequest) as e:
        client.secrets.kv.v2.create_or_update_secret(path=name, secret={"v": "x"})
    assert "check-and-set parameter required" in str(e.value)
    assert native_value(name) == {"v": "1"}
    client.secrets.kv.v2.create_or_update_secret(path=name, secret={"v": "2"}, cas=1)
    assert native_value(name) == {"v": "2"}


def test_max_versions_pruning(client, name):
    client.secrets.kv.v2.create_or_update_secret(path=name, secret={"v": "1"})
    client.secrets.kv.v2.update_metadata(path=name, max_versions=2)
    for v in ["2", "3", "4"]:
        client.secrets.kv.v2.create_or_update_secret(path=name, secret={"v": v})
    meta = client.secrets.kv.v2.read_secret_metadata(path=name)["data"]
    assert sorted(meta["versions"]) == ["3", "4"]
    assert meta["oldest_version"] == 3
    with pytest.raises(hvac.exceptions.InvalidPath):
        read(client, name, version=1)
    status, body = native("GET", secret_path(name) + "/versions")
    assert sorted(v["version"] for v in body["versions"]) == [3, 4]
    assert native_value(name) == {"v": "4"}


def test_delete_version_after(client, name):
    client.secrets.kv.v2.create_or_update_secret(path=name, secret={"v": "1"})
    client.secrets.kv.v2.update_metadata(path=name, delete_version_after="3s")
    meta = client.secrets.kv.v2.read_secret_metadata(path=name)["data"]
    assert meta["delete_version_after"] == "3s"
    client.secrets.kv.v2.create_or_update_secret(path=name, secret={"v": "2"})
    assert read(client, name)["data"]["data"] == {"v": "2"}
    assert native_value(name) == {"v": "2"}
    time.sleep(3.5)
    with pytest.raises(hvac.exceptions.InvalidPath):
        read(client, name)
    assert native_value(name) is None


def test_engine_configuration(client):
    before = client.secrets.kv.v2.read_configuration()["data"]
    assert before["delete_version_after"] == "0s"
    try:
        client.secrets.kv.v2.configure(max_versions=7, delete_version_after="30m")
        cfg = client.secrets.kv.v2.read_configuration()["data"]
        assert cfg["max_versions"] == 7
        assert cfg["delete_version_after"] == "30m0s"
        status, settings = native("GET", "/v1/workspaces/default/settings")
        assert settings["max_versions"] == 7
        assert settings["delete_version_after"] == 1800
    finally:
        client.secrets.kv.v2.configure(
            max_versions=before["max_versions"], delete_version_after="0s", cas_required=False
        )


def test_lookup_self_and_auth_failures(client):
    me = client.auth.token.lookup_self()
    assert me["data"]["id"] == VAULT_TOKEN
    assert me["data"]["meta"]["workspace"] == "default"
    assert client.is_authenticated()
    bad = hvac.Client(url=VAULT_ADDR, token="lbx_not_a_real_token")
    assert not bad.is_authenticated()
    with pytest.raises(hvac.exceptions.Forbidden):
        bad.secrets.kv.v2.read_secret_version(path="anything", raise_on_deleted_version=True)


def test_health_and_mounts(client):
    assert client.sys.read_health_status(method="GET")["initialized"] is True
    assert client.sys.is_sealed() is False
    mounts = client.sys.list_mounted_secrets_engines()["data"]
    assert mounts["secret/"]["options"]["version"] == "2"
    assert mounts["private/"]["type"] == "kv"


def test_private_mount(client, name):
    client.secrets.kv.v2.create_or_update_secret(path=name, secret={"mine": "1"}, mount_point="private")
    assert read_private(client, name) == {"mine": "1"}
    status, body = native("POST", secret_path(name) + "/reveal?scope=user")
    assert status == 200 and body["value"] == {"mine": "1"}
    assert native_value(name) is None


def read_private(client, name):
    return client.secrets.kv.v2.read_secret_version(
        path=name, mount_point="private", raise_on_deleted_version=True
    )["data"]["data"]
