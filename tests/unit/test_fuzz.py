"""Property tests: whatever a config.json holds, validation and the mapping to the zone's
records end in success or a clear error, never a traceback.

Inputs: random JSON documents (with NaN, Infinity, huge numbers and lone surrogates among
their values), random structural mutations of every fixture in ``spec-fixtures/valid``, and
random byte-level damage to those fixtures' text. Each goes through what ``create`` does:
``load_bundle`` (read, strict parse, schema, semantic checks, typed Spec), then
``encode_spec`` with a staged source for every bind mount, as the Xen backend calls it.

"Clear error": an ``EderaError`` (what the CLI prints in one line), or the mapping's own
``MappingError``, which the Xen backend turns into a ``ZoneError`` naming the field. Any other
exception fails the test.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from edera_oci.errors import EderaError
from edera_oci.validate import load_bundle
from edera_oci.zone.protocol import decode_records
from edera_oci.zone.records import BINDS_MOUNTPOINT, MappingError, encode_spec
from edera_oci.zone.shares import SHARE_TAG, ZONE_MOUNT_OPTIONS
from tests.unit.conftest import REPO

FIXTURES = {p.name: json.loads(p.read_text())
            for p in sorted((REPO / "spec-fixtures" / "valid").glob("*.json"))}


def fuzz(examples: int):
    """Hypothesis settings: ``examples`` runs (times ``$FUZZ_SCALE`` for a longer hunt), no
    per-example deadline (the lab's CI is slow and loaded)."""
    scale = float(os.environ.get("FUZZ_SCALE", "1"))
    return settings(max_examples=max(1, int(examples * scale)), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# The two kinds whose examples go through the whole schema (~40 ms each) get fewer, so that
# the file stays within ~20 s on the 2-core CI host.
CHEAP, SCHEMA = 200, 100

# Keys a config uses, so that random documents reach past the first checks.
OCI_KEYS = ["ociVersion", "root", "process", "mounts", "hooks", "linux", "annotations",
            "hostname", "domainname", "args", "env", "cwd", "user", "uid", "gid", "path",
            "readonly", "terminal", "capabilities", "rlimits", "resources", "memory", "limit",
            "cpu", "quota", "period", "namespaces", "type", "source", "destination", "options",
            "prestart", "poststart", "poststop", "createRuntime", "timeout", "sysctl",
            "maskedPaths", "readonlyPaths", "consoleSize", "height", "width", "umask",
            "additionalGids", "noNewPrivileges", "oomScoreAdj", "soft", "hard", "bounding"]

characters = st.characters(blacklist_categories=())  # lone surrogates included
scalars = (st.none() | st.booleans()
           | st.integers(min_value=-(1 << 70), max_value=1 << 70)
           | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(characters, max_size=12)
           | st.sampled_from(["/", "/bin/sh", "rootfs", "1.0.0", "rbind", "bind", "tmpfs",
                              "RLIMIT_NOFILE", "CAP_KILL", "network", "A=b", "", "-1"]))
keys = st.sampled_from(OCI_KEYS) | st.text(characters, max_size=8)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(keys, children, max_size=5),
    max_leaves=15,
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "bundle"
    (path / "rootfs").mkdir(parents=True)
    return path


def to_text(doc) -> str:
    return json.dumps(doc, allow_nan=True)  # NaN/Infinity tokens stay in: strictness is tested


def create_path(bundle: Path, text: str | bytes) -> None:
    """What ``create`` does with a config before the zone exists."""
    config = bundle / "config.json"
    if isinstance(text, str):
        config.write_bytes(text.encode("utf-8", "surrogatepass"))
    else:
        config.write_bytes(text)
    try:
        spec = load_bundle(str(bundle), for_create=True)
    except EderaError as e:
        assert str(e)
        return
    binds = {i: f"{BINDS_MOUNTPOINT}/{i}" for i, m in enumerate(spec.mounts) if m.is_bind}
    try:
        records = encode_spec(spec.raw, binds, (SHARE_TAG, ZONE_MOUNT_OPTIONS) if binds else None)
    except MappingError as e:
        assert str(e)
        return
    assert decode_records(records)  # what was encoded can be read back


def runnable(doc: dict) -> dict:
    """A fixture whose rootfs is the test bundle's, so that validation goes all the way."""
    doc = copy.deepcopy(doc)
    if isinstance(doc.get("root"), dict):
        doc["root"]["path"] = "rootfs"
    return doc


@fuzz(CHEAP)
@given(doc=json_values)
def test_random_documents(bundle, doc):
    create_path(bundle, to_text(doc))


@fuzz(SCHEMA)
# found by this test: members of an unknown hook kind went through the semantic checks
@example(doc={"hooks": {"ociVersion": 1}}, version="1.0.0")
@example(doc={"hooks": {"x": "y"}}, version="1.0.0")
# found by the reliability probe: a lone surrogate reached the record encoder
@example(doc={"process": {"cwd": "/", "args": ["/bin/echo", "\udcff"]}}, version="1.0.0")
@example(doc={"hostname": "\ud800"}, version="1.2.0")
@given(doc=st.dictionaries(keys, json_values, max_size=6),
       version=st.sampled_from(["1.0.0", "1.2.0", "1.1.0-rc.1", "0.9", "2.0.0", 1]))
def test_random_configs(bundle, doc, version):
    doc = {"ociVersion": version, "root": {"path": "rootfs"},
           "process": {"cwd": "/", "args": ["/bin/true"]}, **doc}
    create_path(bundle, to_text(doc))


def mutate(doc, data) -> None:
    """Change one place in ``doc``: replace, delete or add a member, deep or shallow."""
    node = doc
    while True:
        children = (list(node.values()) if isinstance(node, dict) else node)
        nested = [c for c in children if isinstance(c, dict | list) and c]
        if not nested or not data.draw(st.booleans()):
            break
        node = data.draw(st.sampled_from(nested))
    op = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if isinstance(node, dict):
        if op == "add" or not node:
            node[data.draw(keys)] = data.draw(json_values)
        else:
            key = data.draw(st.sampled_from(sorted(node)))
            if op == "delete":
                del node[key]
            else:
                node[key] = data.draw(json_values)
    elif isinstance(node, list):
        if op == "add" or not node:
            node.insert(data.draw(st.integers(0, len(node))), data.draw(json_values))
        else:
            i = data.draw(st.integers(0, len(node) - 1))
            if op == "delete":
                del node[i]
            else:
                node[i] = data.draw(json_values)


@fuzz(SCHEMA)
@given(data=st.data())
def test_mutated_fixtures(bundle, data):
    name = data.draw(st.sampled_from(sorted(FIXTURES)))
    doc = runnable(FIXTURES[name])
    for _ in range(data.draw(st.integers(1, 4))):
        mutate(doc, data)
    create_path(bundle, to_text(doc))


@fuzz(CHEAP)
@given(data=st.data())
def test_damaged_fixture_text(bundle, data):
    name = data.draw(st.sampled_from(sorted(FIXTURES)))
    raw = bytearray(json.dumps(runnable(FIXTURES[name]), indent=1).encode())
    for _ in range(data.draw(st.integers(1, 6))):
        at = data.draw(st.integers(0, len(raw)))
        op = data.draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        if op == "truncate":
            del raw[at:]
        elif op == "cut":
            del raw[at:at + data.draw(st.integers(1, 16))]
        elif op == "insert":
            raw[at:at] = data.draw(st.sampled_from(
                [b"[", b"{", b"]", b"}", b",", b'"', b"\\", b"\\udcff", b"NaN", b"1e999",
                 b"\xff", b"\xed\xa0\x80", b"\0", b"-", b"9" * 20]))
        elif raw and at < len(raw):
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
    create_path(bundle, bytes(raw))


def test_the_fixtures_themselves_map(bundle):
    for doc in FIXTURES.values():
        create_path(bundle, to_text(runnable(doc)))
