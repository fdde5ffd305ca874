"""Check a bundle's ``config.json`` before anything is created.

Two layers:

1. JSON Schema: the runtime-spec's own draft-04 schemas, vendored in ``edera_oci/schemas``
   (version in ``schemas/VERSION``), resolved offline through a ``RefResolver`` whose store
   holds every vendored file. ``RefResolver`` is what jsonschema 4.10 (Debian 12) offers;
   newer 4.x still has it but warns that it is deprecated, so the warning is silenced here.
2. What the schema cannot say: a supported ``ociVersion``, ``root`` and ``process`` present
   for ``create``, a rootfs directory that exists, non-empty ``process.args``, absolute
   ``cwd`` and hook paths, unique namespaces and rlimits, device rules runc would refuse, and
   the fields a zone refuses (``edera_oci.support``, the table of every field: it also says
   which are ignored).

Errors name the JSON path and the rule (``linux.resources.memory.limit: 'abc' is not of type
'integer'``) and are raised as :class:`~edera_oci.errors.ConfigError`.
"""

from __future__ import annotations

import json
import os
import re
import sys
import types
import warnings
from collections.abc import Iterable
from functools import cache, lru_cache
from typing import Any

from edera_oci import support
from edera_oci.errors import ConfigError
from edera_oci.safeio import FileRefused, loads_strict, read_regular_file
from edera_oci.spec import HOOK_KINDS, Process, Spec
from edera_oci.zone.records import device_rule_errors
from edera_oci.zone.seccomp import seccomp_errors

SCHEMA_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")
# A base URI that is never fetched: every $ref resolves inside the store built below.
SCHEMA_BASE = "https://schemas.edera-oci.invalid/runtime-spec/"
MAX_REPORTED_ERRORS = 5

OCI_VERSION_RE = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:[-+][0-9A-Za-z.+-]*)?$")



@lru_cache(maxsize=1)
def schema_version() -> str:
    """The runtime-spec version of the vendored schemas (``schemas/VERSION``)."""
    with open(os.path.join(SCHEMA_DIR, "VERSION"), encoding="utf-8") as f:
        return f.read().strip()


@cache
def schema_file(name: str) -> dict[str, Any]:
    """One vendored schema file, parsed."""
    with open(os.path.join(SCHEMA_DIR, name), encoding="utf-8") as f:
        return json.load(f)


def schema_store() -> dict[str, dict[str, Any]]:
    """Every vendored schema file, keyed by its file name."""
    return {name: schema_file(name) for name in sorted(os.listdir(SCHEMA_DIR))
            if name.endswith(".json")}


def schema_refs(node: Any) -> Iterable[str]:
    """Every ``$ref`` under node, as written (``file.json#/ptr`` or ``#/ptr``)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from schema_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from schema_refs(item)


def store_for(ref: str, instance: Any = None) -> dict[str, dict[str, Any]]:
    """The vendored files that validating ``instance`` against ``ref`` can reach.

    When ``ref`` is a whole file, its ``properties`` that the instance lacks are not followed:
    a Linux config never reads the Windows, Solaris, z/OS or VM files. Each file read costs
    about 8 ms in the lab's emulated dom0, where every system call goes through Xen.
    """
    first = ref.split("#", 1)[0]
    names: dict[str, dict[str, Any]] = {}
    todo = [first]
    while todo:
        name = todo.pop()
        if name in names:
            continue
        doc = names[name] = schema_file(name)
        if name == first and "#" not in ref and isinstance(instance, dict):
            props = doc.get("properties", {})
            doc = {**doc, "properties": {k: v for k, v in props.items() if k in instance}}
        # "#..." refs stay inside their own file
        todo.extend(r.split("#", 1)[0] for r in schema_refs(doc) if not r.startswith("#"))
    return names


def _no_fetch(uri: str) -> Any:
    raise ConfigError(f"internal error: schema reference {uri} is not vendored")


def _import_jsonschema() -> Any:
    """jsonschema, loaded without ``urllib.request`` where that can be avoided.

    jsonschema before 4.18 (Debian 12 ships 4.10) imports ``urllib.request.urlopen`` when it
    loads, only to fetch remote ``$ref`` targets. This runtime never fetches one: every
    ``$ref`` resolves in the vendored store, and the handlers refuse the rest. Yet
    urllib.request pulls in http.client, email, ssl and hashlib, which is 0.4 s of a ``create``
    in the lab's emulated dom0 (and about 10 ms on the host). So while jsonschema loads,
    ``urllib.request`` is a placeholder whose ``urlopen`` refuses to fetch. The placeholder
    leaves ``sys.modules`` right after, so a later ``import urllib.request`` gets the real
    module. Newer jsonschema imports urllib.request lazily and never sees the placeholder.
    """
    if "jsonschema" in sys.modules or "urllib.request" in sys.modules:
        import jsonschema

        return jsonschema
    placeholder = types.ModuleType("urllib.request", "stand-in while jsonschema loads")
    placeholder.urlopen = _no_fetch  # type: ignore[attr-defined]
    sys.modules["urllib.request"] = placeholder
    try:
        import jsonschema
    finally:
        if sys.modules.get("urllib.request") is placeholder:
            del sys.modules["urllib.request"]
    return jsonschema


def _validator(ref: str, instance: Any = None) -> Any:
    """A Draft4Validator for ``ref`` (``file.json`` or ``file.json#/json/pointer``); with an
    instance, its store holds only the files that instance can reach."""
    jsonschema = _import_jsonschema()

    store = {SCHEMA_BASE + name: schema for name, schema in store_for(ref, instance).items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        resolver = jsonschema.RefResolver(
            base_uri=SCHEMA_BASE,
            referrer={},
            store=store,
            handlers={"http": _no_fetch, "https": _no_fetch, "file": _no_fetch},
        )
        return jsonschema.Draft4Validator({"$ref": SCHEMA_BASE + ref}, resolver=resolver)


def format_path(path: Iterable[Any], root: str = "") -> str:
    """``['linux', 'resources', 'memory', 'limit']`` -> ``linux.resources.memory.limit``."""
    out = root
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{json.dumps(part)}]"
    return out


def _short(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _leaf(error: Any) -> Any:
    """For anyOf/oneOf failures, the most relevant sub-error (the deepest, best match)."""
    from jsonschema.exceptions import best_match

    while error.context:
        error = best_match(error.context)
    return error


def schema_errors(instance: Any, ref: str, root: str = "") -> list[str]:
    """Schema violations of ``instance`` against ``ref``, as ``path: message`` strings."""
    validator = _validator(ref, instance)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        errors = [_leaf(e) for e in validator.iter_errors(instance)]
    out = []
    for err in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
        where = format_path(err.absolute_path, root) or root or "(document)"
        out.append(f"{where}: {_short(err.message)}")
    # the same leaf can be reached through several schema branches
    return list(dict.fromkeys(out))


def _raise(errors: list[str], what: str) -> None:
    if not errors:
        return
    shown = errors[:MAX_REPORTED_ERRORS]
    more = len(errors) - len(shown)
    tail = f" (and {more} more)" if more > 0 else ""
    raise ConfigError(f"invalid {what}: " + "; ".join(shown) + tail)


def check_oci_version(version: Any, source: str = "config.json") -> None:
    """Accept any 1.x.y (with pre-release/build suffixes); refuse 0.x, 2.x and garbage."""
    where = f"invalid {source}: ociVersion"
    if not isinstance(version, str):
        raise ConfigError(f"{where}: {json.dumps(version)} is not of type 'string'")
    m = OCI_VERSION_RE.match(version)
    supported = f"supported: 1.0.0 to 1.x, implemented: {schema_version()}"
    if not m:
        raise ConfigError(f"{where}: {version!r} is not a version ({supported})")
    if int(m.group(1)) != 1:
        raise ConfigError(f"{where}: {version!r} is not supported ({supported})")


def _dicts(value: Any) -> list[tuple[int, dict[str, Any]]]:
    """(index, item) of the objects in a list; anything else holds none.

    The schema checks the members it knows; these helpers keep the semantic checks from
    tripping over what it lets through (unknown hook kinds, wrong types it already reported).
    """
    if not isinstance(value, list):
        return []
    return [(i, item) for i, item in enumerate(value) if isinstance(item, dict)]


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def semantic_errors(cfg: dict[str, Any], *, for_create: bool) -> list[str]:
    """What the schema cannot express (see the module docstring)."""
    errors: list[str] = []
    if for_create and "root" not in cfg:
        errors.append("root: is required to create a container")
    proc = cfg.get("process")
    if proc is None:
        if for_create:
            errors.append("process: is required to create a container")
    elif isinstance(proc, dict):
        errors.extend(process_errors(proc, "process"))
    for i, mount in _dicts(cfg.get("mounts")):
        if not mount.get("destination"):
            errors.append(f"mounts[{i}].destination: must not be empty")
    for kind, hooks in _obj(cfg.get("hooks")).items():
        if kind not in HOOK_KINDS:
            continue  # not a hook kind of this runtime-spec: never run
        for i, hook in _dicts(hooks):
            path = hook.get("path", "")
            if not isinstance(path, str) or not os.path.isabs(path):
                errors.append(f"hooks.{kind}[{i}].path: {path!r} is not absolute")
    for key in _obj(cfg.get("annotations")):
        if key == "":
            errors.append("annotations: keys must not be empty")
    linux = _obj(cfg.get("linux"))
    seen: set[str] = set()
    for i, ns in _dicts(linux.get("namespaces")):
        ns_type = ns.get("type")
        if not isinstance(ns_type, str):
            continue  # the schema says so
        if ns_type in seen:
            errors.append(f"linux.namespaces[{i}]: namespace {ns_type!r} is listed twice")
        seen.add(ns_type)
        path = ns.get("path")
        if isinstance(path, str) and not os.path.isabs(path):
            errors.append(f"linux.namespaces[{i}].path: {path!r} is not absolute")
    # what a zone cannot do, each named by edera_oci.support's table (user namespaces, ...)
    errors.extend(support.refusals(cfg))
    errors.extend(seccomp_errors(linux.get("seccomp")))
    errors.extend(device_rule_errors(_obj(linux.get("resources")).get("devices")))
    return errors


def process_errors(proc: dict[str, Any], where: str) -> list[str]:
    errors = []
    args = proc.get("args")
    if not args:
        errors.append(f"{where}.args: must be a non-empty array")
    cwd = proc.get("cwd")
    if isinstance(cwd, str) and not os.path.isabs(cwd):
        errors.append(f"{where}.cwd: {cwd!r} is not an absolute path")
    env = proc.get("env")
    for i, item in enumerate(env if isinstance(env, list) else ()):
        if isinstance(item, str) and ("=" not in item or item.startswith("=")):
            errors.append(f"{where}.env[{i}]: {item!r} is not of the form KEY=value")
    seen: set[Any] = set()
    for i, rl in _dicts(proc.get("rlimits")):
        rl_type = rl.get("type")
        if not isinstance(rl_type, str):
            continue
        if rl_type in seen:
            errors.append(f"{where}.rlimits[{i}]: {rl_type} is listed twice")
        seen.add(rl_type)
    return errors


def validate_config(cfg: Any, *, for_create: bool = True, source: str = "config.json") -> None:
    """Raise ConfigError unless ``cfg`` is a config this runtime can run."""
    if not isinstance(cfg, dict):
        raise ConfigError(f"invalid {source}: the document must be a JSON object")
    if "ociVersion" not in cfg:
        raise ConfigError(f"invalid {source}: 'ociVersion' is a required property")
    check_oci_version(cfg["ociVersion"], source)
    _raise(schema_errors(cfg, "config-schema.json"), source)
    _raise(semantic_errors(cfg, for_create=for_create), source)


# The largest config.json, --process or --resources file read: a real config is a few KiB
# (a pod with hundreds of env vars and annotations stays well under 1 MiB).
MAX_JSON_FILE = 4 << 20


def read_json_file(path: str, what: str, limit: int = MAX_JSON_FILE) -> Any:
    """Parse a JSON file; errors name the file and the position of the syntax error.

    Only a regular file of at most ``limit`` bytes is read (a FIFO is refused without
    blocking, ``/dev/zero`` without reading it); the JSON must be strict (no NaN or Infinity,
    no lone surrogates, not nested too deeply): see ``edera_oci.safeio``.
    """
    try:
        data = read_regular_file(path, limit)
    except FileRefused as e:
        if e.missing:
            raise ConfigError(f"{what} {path} not found") from None
        raise ConfigError(f"{what} {path} {e.reason}") from None
    return parse_json(data, f"{what} {path}")


def parse_json(data: bytes | str, what: str) -> Any:
    """Strict JSON of ``what`` (a file or stdin); ConfigError saying where it is wrong."""
    try:
        return loads_strict(data)
    except json.JSONDecodeError as e:
        raise ConfigError(
            f"cannot parse {what}: {e.msg} at line {e.lineno} column {e.colno}"
        ) from None
    except ValueError as e:
        raise ConfigError(f"cannot parse {what}: {_short(str(e))}") from None


def load_bundle(bundle: str, *, for_create: bool = True) -> Spec:
    """Read, validate and type ``<bundle>/config.json``; check the rootfs on disk."""
    bundle = os.path.abspath(bundle)
    if not os.path.exists(bundle):
        raise ConfigError(f"bundle directory {bundle} not found")
    if not os.path.isdir(bundle):
        raise ConfigError(f"bundle {bundle} is not a directory")
    config_path = os.path.join(bundle, "config.json")
    cfg = read_json_file(config_path, "config file")
    validate_config(cfg, for_create=for_create, source=config_path)
    spec = Spec.from_dict(cfg, bundle=bundle)
    if spec.root is not None:
        if not os.path.exists(spec.root.path):
            raise ConfigError(
                f"invalid {config_path}: root.path: rootfs {spec.root.path} not found"
            )
        if not os.path.isdir(spec.root.path):
            raise ConfigError(
                f"invalid {config_path}: root.path: rootfs {spec.root.path} is not a directory"
            )
    return spec


def validate_process(proc: Any, source: str = "process.json") -> Process:
    """Validate a runtime-spec Process document (``exec --process``) and type it."""
    if not isinstance(proc, dict):
        raise ConfigError(f"invalid {source}: the document must be a JSON object")
    _raise(schema_errors(proc, "config-schema.json#/properties/process", "process"), source)
    _raise(process_errors(proc, "process") + support.refusals(proc, "process"), source)
    return Process.from_dict(proc)


def validate_resources(resources: Any, source: str = "resources") -> dict[str, Any]:
    """Validate a LinuxResources document (``update --resources``)."""
    if not isinstance(resources, dict):
        raise ConfigError(f"invalid {source}: the document must be a JSON object")
    _raise(
        schema_errors(
            resources, "config-linux.json#/linux/properties/resources", "linux.resources"
        ),
        source,
    )
    _raise(device_rule_errors(resources.get("devices")), source)
    return resources


def validate_features(doc: Any) -> list[str]:
    """Schema errors of a Features document (used by tests and ``features``)."""
    return schema_errors(doc, "features-schema.json")


def validate_state(doc: Any) -> list[str]:
    """Schema errors of a State document."""
    return schema_errors(doc, "state-schema.json")
