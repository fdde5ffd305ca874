# edera-oci: install what it needs, build the lab and the zone image, run the demo and the tests.
#
# Debian 12's python3 refuses `pip install` outside a virtual environment (PEP 668,
# externally-managed-environment), so the host-side Python packages go into .venv, which `make
# deps` creates with the machine's python3 and every target below uses (it is first on PATH,
# also for the lab/ and bench/ scripts, whose shebang is `env python3`).
ifndef SYSTEM_PYTHON
SYSTEM_PYTHON := $(shell command -v python3)
endif
VENV ?= $(CURDIR)/.venv
PYTHON = $(VENV)/bin/python
export PATH := $(VENV)/bin:$(PATH)
LAB_TIMEOUT ?= 4500
# One Xen test (its module's fixtures included) that hangs fails alone, with its traceback.
XEN_TEST_TIMEOUT ?= 600
APT_PACKAGES = qemu-system-x86 qemu-utils debootstrap busybox-static e2fsprogs cpio gzip xz-utils \
	file gcc make libc6-dev libxen-dev libseccomp-dev ca-certificates python3-venv kmod

.PHONY: all deps lab zone-image install demo test test-unit test-lab test-xen lint bench clean

all: zone-image

## Debian packages, and the Python packages in .venv (run as root on Debian 12)
deps: apt $(VENV)/.installed

.PHONY: apt
apt:
	@echo "deps: Debian packages (apt-get; the first time takes a minute or two)"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null

# Remade when pyproject.toml changes (new dependencies).
$(VENV)/.installed: pyproject.toml
	@echo "deps: Python packages into $(VENV)"
	$(SYSTEM_PYTHON) -m venv $(VENV)
	$(PYTHON) -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

## the Xen lab's dom0 image (cached under ~/.cache/edera-oci/lab)
lab:
	$(PYTHON) lab/build

## the zone's kernel, initramfs and init (build/zone-image)
zone-image:
	$(PYTHON) zone_image/build

## on a real Xen dom0: edera-oci in its own virtual environment, a link in /usr/local/bin, and
## the zone image where an installed runtime looks for it
PREFIX ?= /opt/edera-oci
ZONE_IMAGE_DIR ?= /usr/lib/edera-oci/zone-image
install: zone-image
	$(SYSTEM_PYTHON) -m venv $(PREFIX)
	$(PREFIX)/bin/pip install -q --disable-pip-version-check .
	ln -sf $(PREFIX)/bin/edera-oci /usr/local/bin/edera-oci
	install -d $(ZONE_IMAGE_DIR)
	cp -r build/zone-image/. $(ZONE_IMAGE_DIR)/

## run a busybox bundle in a Xen zone, in the lab
demo: deps lab zone-image
	$(PYTHON) lab/run lab/demo

## every test: lint, the unit tests here, lab/run's own tests, then the Xen tests in one boot
test: deps lint test-unit test-lab test-xen

## seconds, no QEMU; then the line coverage of the monitor and the host-zone protocol, which
## the host tests drive against the zone init built for the host (at least 85%)
MONITOR_CODE = edera_oci/zone/monitor.py,edera_oci/zone/protocol.py,edera_oci/zone/control.py
test-unit:
	$(PYTHON) -m coverage run --source=edera_oci -m pytest -m "not xen and not lab" -q tests
	$(PYTHON) -m coverage report --include='$(MONITOR_CODE)' --fail-under=85

## lab/run's contract on the host (each test boots the lab)
test-lab: lab
	$(PYTHON) -m pytest -m lab -q tests

test-xen: lab zone-image xen-test-tools
	$(PYTHON) lab/run --timeout $(LAB_TIMEOUT) python3 -m pytest -p no:cacheprovider -m xen -v \
		--timeout $(XEN_TEST_TIMEOUT) --durations=30 tests/xen

## static helpers the Xen tests copy into a container's rootfs (dom0 has no compiler)
XEN_TEST_TOOLS = tests/xen/tools/build/fileops
.PHONY: xen-test-tools
xen-test-tools: $(XEN_TEST_TOOLS)
tests/xen/tools/build/%: tests/xen/tools/%.c
	mkdir -p $(@D)
	gcc -static -O2 -Wall -Wextra -Werror -o $@ $<

lint:
	$(PYTHON) -m ruff check .

bench: lab zone-image
	$(PYTHON) bench/lab_boot.py --runs 3

clean:
	rm -rf build lab/out tests/xen/tools/build
