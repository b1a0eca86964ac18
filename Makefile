# pxeimport: `make import` runs the importer, `make test` runs the tests. Both set up what they need.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Debian packages the project needs: a venv for Python, distro-info's release data, gpgv and the Debian
# archive keyring to verify archives, gnupg to sign test and demo archives, dpkg-deb for the demo,
# zstd to read .debs compressed with it (Ubuntu's since 21.10; python-debian runs unzstd).
DEBIAN_PACKAGES := python3-venv distro-info-data gpgv gnupg debian-archive-keyring dpkg zstd sbsigntool
# sbsigntool: sbverify checks each served kernel against the served shim's certificate (pxeimport.secureboot).
# Installed where the system's apt sources offer them: ubuntu-keyring holds Ubuntu's archive and CD image keys
# (the ubuntu-iso and ubuntu-netboot layouts verify with it); on Debian 12 it comes from bookworm-backports.
OPTIONAL_DEBIAN_PACKAGES := ubuntu-keyring
# System tools some tests drive for real (a TFTP server and client, a browser, a web server, QEMU,
# xorriso to build stand-in ISO images, binutils' ar to build a test .deb, grub-script-check, RabbitMQ
# for the region/rack tests, exFAT tools for a TFTP root on a filesystem without symlinks, aria2: the
# segmented downloader `make bench` compares with, libfaketime (faketime) to run a rack under a wrong clock,
# dnsmasq, ISC dhcpd and Kea to check dhcp_config's output with each server's own configuration test).
# Without them those tests skip with the reason; `make test-tools` installs them; CI does, and skips nothing.
TEST_DEBIAN_PACKAGES := tftpd-hpa tftp-hpa curl chromium chromium-driver nginx-light qemu-system-x86 ipxe-qemu ovmf \
	openssl distro-info binutils xorriso grub-common rabbitmq-server exfatprogs exfat-fuse aria2 faketime \
	dnsmasq-base isc-dhcp-server kea-dhcp4-server \
	qemu-system-arm qemu-efi-aarch64 sbsigntool iproute2
# The embedded default: a TFTP root inside the checkout, so no root privileges are needed.
export PXEIMPORT_TFTPROOT ?= $(CURDIR)/var/tftpboot
ARGS ?=

.PHONY: install system-packages test-tools import demo soak static serve superuser test test-fast check lint format typecheck migrations-check bench bench-racks wheels clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@$(MAKE) --no-print-directory system-packages
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

system-packages:
	@missing=$$(for p in $(DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages:" $$missing; \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@for p in $(OPTIONAL_DEBIAN_PACKAGES); do \
		dpkg -s $$p >/dev/null 2>&1 && continue; \
		if apt-cache policy $$p 2>/dev/null | grep -q 'Candidate: [0-9]'; then \
			$(SUDO) apt-get install -y -qq $$p; \
		else \
			echo "Note: apt offers no $$p here (Debian 12: add bookworm-backports). Ubuntu's layouts need its"; \
			echo "  /usr/share/keyrings/ubuntu-archive-keyring.gpg, or a keyring file set in the boot source."; \
		fi; \
	done

test-tools:
	@missing=$$(for p in $(TEST_DEBIAN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "Installing Debian packages for the tests:" $$missing; \
		$(SUDO) apt-get update -qq && $(SUDO) DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

var/.migrated: $(VENV)/.installed $(wildcard pxeimport/migrations/*.py)
	@mkdir -p var
	$(PY) manage.py migrate -v0
	@touch $@

## The main job: import from the saved boot sources into $(PXEIMPORT_TFTPROOT). Extra options: ARGS="...".
import: var/.migrated
	$(PY) manage.py import_pxe_files $(ARGS)

## The whole flow without internet: real Debian netboot files, served on loopback, imported twice.
demo: var/.migrated
	$(PY) -m tools.demo $(ARGS)

## Nights of random change with the nightly import and invariants checked after each (tools/soak; its own
## database and roots in a temporary directory; racks on RabbitMQ at 127.0.0.1:5672, or ARGS=--no-racks).
## NIGHTS=365 is the year in RELIABILITY.md; the same SEED draws the same nights. Exit 1 with the night and
## the seed to replay at the first violation.
NIGHTS ?= 30
SEED ?= 1
soak: install
	$(PY) -m tools.soak --nights $(NIGHTS) --seed $(SEED) $(ARGS)

## The admin's CSS and icons in var/static, which WhiteNoise (and the contrib nginx site) serve.
static: install
	$(PY) manage.py collectstatic --noinput -v0

## The admin on http://127.0.0.1:8000/admin/ (make superuser first).
## The admin on Django's development server (PORT=0.0.0.0:8080 to listen elsewhere; not for production).
PORT ?= 127.0.0.1:8000
serve: var/.migrated static
	$(PY) manage.py runserver $(PORT)

superuser: var/.migrated
	$(PY) manage.py createsuperuser

## The tests, with the system tools the real-part tests drive (installed when the machine allows).
test: install
	@$(MAKE) --no-print-directory test-tools || echo "Could not install the test tools: the tests that need them skip, naming what is missing."
	$(VENV)/bin/pytest $(ARGS)

## The tests that take seconds each, not minutes (no QEMU, browser, kill trials): about 5 minutes on 2 cores.
test-fast: install
	$(VENV)/bin/pytest -m "not slow" $(ARGS)

## Before a commit: lint, types, migrations and the fast tests.
check: lint typecheck migrations-check test-fast

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

typecheck: install
	$(VENV)/bin/mypy .

migrations-check: install
	$(PY) manage.py makemigrations --check --dry-run

## Issue 6's benchmark: pxeimport against the 2012 script and curl on a local nginx; writes BENCHMARKS.md
## (~15 min; ARGS=--quick for ~1 min; ARGS="--importer-rev A --importer-rev B" compares two commits).
bench: install
	$(PY) -m bench.run $(ARGS)

## Issue 16's benchmark: N = 1, 3, 6 racks following a region's import of one new release (RabbitMQ on
## 127.0.0.1:5672); prints the figures and writes them into BENCHMARKS.md. About 2 minutes.
## A wheelhouse of the pinned runtime requirements in var/wheels: the install test installs from it offline.
wheels: $(VENV)/.installed
	$(PY) -m pip wheel -q --disable-pip-version-check -r requirements.txt -w var/wheels

bench-racks: var/.migrated
	$(PY) -m bench.racks --write $(ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
