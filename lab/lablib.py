"""Shared pieces of the Xen lab's build and run scripts (lab/build, lab/run)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

LAB_DIR = Path(__file__).resolve().parent
REPO = LAB_DIR.parent
SUITE = "bookworm"
CACHE_ROOT = Path(os.environ.get("EDERA_LAB_CACHE", Path.home() / ".cache/edera-oci/lab"))
# Debian's zone kernel packages, unpacked by zone_image/build: <pkg>/root/lib/modules/<kver>
ZONE_KERNEL_CACHE = Path.home() / ".cache" / "edera-oci" / "zone-kernel"


def zone_kernel_modules(pkg: str, kver: str) -> Path:
    """/lib/modules/<kver> of the zone kernel package pkg, as zone_image/build unpacked it."""
    return ZONE_KERNEL_CACHE / pkg / "root" / "lib" / "modules" / kver
OUT_ROOT = Path(os.environ.get("EDERA_LAB_OUT", LAB_DIR / "out"))

# Files whose content defines the image: change one and the cache key changes.
IMAGE_INPUTS = ["build", "lablib.py", "packages", "lab-init", "dom0-initrd-init"]

# Modules the dom0 initramfs loads to reach its virtio root disk.
DOM0_INITRD_MODULES = ["virtio_pci", "virtio_blk", "crc32c_generic", "ext4"]


def packages() -> list[str]:
    lines = (LAB_DIR / "packages").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.startswith("#")]


def runtime_requirements() -> list[str]:
    """The `dependencies` of pyproject.toml (read without a TOML library on Python < 3.11)."""
    import tomllib

    with open(REPO / "pyproject.toml", "rb") as f:
        return list(tomllib.load(f)["project"]["dependencies"])


def debian_mirror() -> str:
    """The Debian mirror the host's apt uses, so the lab builds from the same place."""
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        for stanza in path.read_text().split("\n\n"):
            fields = dict(
                (k.strip(), v.strip())
                for k, _, v in (ln.partition(":") for ln in stanza.splitlines() if ":" in ln)
            )
            if SUITE in fields.get("Suites", "").split() and "security" not in fields.get(
                "URIs", ""
            ):
                return fields["URIs"].split()[0]
    listfile = Path("/etc/apt/sources.list")
    if listfile.exists():
        for ln in listfile.read_text().splitlines():
            m = re.match(r"deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+" + SUITE + r"\s", ln)
            if m and "security" not in m.group(1):
                return m.group(1)
    raise SystemExit(f"lab: no apt source for Debian {SUITE} found on this host")


def rootfs_key() -> str:
    h = hashlib.sha256()
    h.update((LAB_DIR / "packages").read_bytes())
    h.update(debian_mirror().encode())
    return h.hexdigest()[:16]


def cache_key() -> str:
    h = hashlib.sha256()
    for name in IMAGE_INPUTS:
        h.update(name.encode() + b"\0" + (LAB_DIR / name).read_bytes() + b"\0")
    h.update("\n".join(runtime_requirements()).encode())
    h.update(debian_mirror().encode())
    return h.hexdigest()[:16]


def image_dir() -> Path:
    return CACHE_ROOT / f"image-{cache_key()}"


def image_ready(path: Path) -> bool:
    return (path / "COMPLETE").exists()


def module_load_order(modules_root: Path, wanted: list[str]) -> list[str]:
    """Paths (relative to modules_root) of the wanted modules and their dependencies, in load order.

    modules_root is /lib/modules/<version>; modules.dep lists each module's dependencies, deepest
    last, so loading a module's list reversed before the module itself respects every edge.
    """
    deps: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    for line in (modules_root / "modules.dep").read_text().splitlines():
        mod, _, rest = line.partition(":")
        deps[mod] = rest.split()
        name = re.sub(r"\.ko(\.[a-z]+)?$", "", Path(mod).name).replace("-", "_")
        by_name[name] = mod
    builtin = set()
    builtin_file = modules_root / "modules.builtin"
    if builtin_file.exists():
        for line in builtin_file.read_text().splitlines():
            builtin.add(Path(line).name.removesuffix(".ko").replace("-", "_"))
    order: list[str] = []

    def visit(mod: str) -> None:
        if mod in order:
            return
        for dep in reversed(deps.get(mod, [])):
            visit(dep)
        order.append(mod)

    for name in wanted:
        key = name.replace("-", "_")
        if key in builtin:
            continue
        if key not in by_name:
            raise SystemExit(f"lab: kernel module {name!r} not found in {modules_root}")
        visit(by_name[key])
    return order


def write_initramfs(root: Path, dest: Path) -> None:
    """Pack directory root as a gzip'd newc cpio archive (the format the kernel unpacks)."""
    files = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    with open(dest, "wb") as out:
        cpio = subprocess.Popen(
            ["cpio", "--quiet", "-o", "-H", "newc", "--owner=0:0"],
            cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        gz = subprocess.Popen(["gzip", "-6", "-n"], stdin=cpio.stdout, stdout=out)
        assert cpio.stdin and cpio.stdout
        cpio.stdout.close()
        cpio.stdin.write(("\n".join(["."] + files) + "\n").encode())
        cpio.stdin.close()
        if cpio.wait() or gz.wait():
            raise SystemExit(f"lab: packing {dest} failed")


def need_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise SystemExit(
            "lab: missing host tools: " + ", ".join(missing)
            + " (install them: apt-get install qemu-system-x86 qemu-utils debootstrap"
            " busybox-static e2fsprogs cpio)"
        )


def extract_vmlinux(bzimage: Path) -> bytes:
    """The uncompressed ELF kernel inside a bzImage.

    Xen's PV loader would decompress the bzImage itself, in dom0 user space: under emulation
    that costs ~7 s per zone, and in the recipe's runs once coincided with an xl crash. The
    setup header says where the compressed payload sits (boot protocol 2.08+).
    """
    import lzma
    import struct

    data = bzimage.read_bytes()
    if data[0x202:0x206] != b"HdrS":
        raise SystemExit(f"lab: {bzimage} is not a bzImage")
    setup_sects = data[0x1F1] or 4
    payload_offset, payload_length = struct.unpack_from("<II", data, 0x248)
    start = (setup_sects + 1) * 512 + payload_offset
    payload = data[start:start + payload_length]
    if payload[:6] != b"\xfd7zXZ\x00":
        raise SystemExit(f"lab: {bzimage} payload is not xz-compressed")
    elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
    if elf[:4] != b"\x7fELF":
        raise SystemExit(f"lab: {bzimage} payload is not an ELF kernel")
    return elf
