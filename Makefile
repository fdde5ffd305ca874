# edera-oci: install what it needs, build the lab and the zone image, run the demo and the tests.
PYTHON ?= python3
LAB_TIMEOUT ?= 3600
APT_PACKAGES = qemu-system-x86 qemu-utils debootstrap busybox-static e2fsprogs cpio gzip xz-utils \
	file gcc make libc6-dev libxen-dev ca-certificates python3-pip kmod

.PHONY: all deps lab zone-image install demo test test-unit test-xen lint bench clean

all: zone-image

## Debian packages and Python packages (run as root on Debian 12)
deps:
	DEBIAN_FRONTEND=noninteractive apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null
	$(PYTHON) -m pip install -q -e '.[test]' --config-settings editable_mode=compat

## the Xen lab's dom0 image (cached under ~/.cache/edera-oci/lab)
lab:
	./lab/build

## the zone's kernel, initramfs and init (build/zone-image)
zone-image:
	$(PYTHON) zone_image/build

## on a real Xen dom0: edera-oci, and the zone image where an installed runtime looks for it
ZONE_IMAGE_DIR ?= /usr/lib/edera-oci/zone-image
install: zone-image
	$(PYTHON) -m pip install -q .
	install -d $(ZONE_IMAGE_DIR)
	cp -r build/zone-image/. $(ZONE_IMAGE_DIR)/

## run a busybox bundle in a Xen zone, in the lab
demo: deps lab zone-image
	./lab/run lab/demo

## every test: lint, the unit tests here, then the Xen tests in one boot of the lab
test: deps lint test-unit test-xen

test-unit:
	$(PYTHON) -m pytest -m "not xen" -q tests

test-xen: lab zone-image
	./lab/run --timeout $(LAB_TIMEOUT) python3 -m pytest -p no:cacheprovider -m xen -v tests

lint:
	$(PYTHON) -m ruff check .

bench: lab zone-image
	$(PYTHON) bench/lab_boot.py --runs 3

clean:
	rm -rf build lab/out
