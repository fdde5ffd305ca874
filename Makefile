# edera-oci: build the lab and the zone image, run the tests.
PYTHON ?= python3
LAB_TIMEOUT ?= 3600

.PHONY: all lab zone-image test test-unit test-xen lint bench clean

all: zone-image

## the Xen lab's dom0 image (cached under ~/.cache/edera-oci/lab)
lab:
	./lab/build

## the zone's kernel, initramfs and init (build/zone-image)
zone-image:
	$(PYTHON) zone_image/build

## every test: the unit tests here, then the Xen tests in one boot of the lab
test: test-unit test-xen

test-unit:
	$(PYTHON) -m pytest -m "not xen" -q tests

test-xen: lab zone-image
	./lab/run --timeout $(LAB_TIMEOUT) python3 -m pytest -p no:cacheprovider -m xen -v tests

lint:
	$(PYTHON) -m ruff check .

clean:
	rm -rf build lab/out
