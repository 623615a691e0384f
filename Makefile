# One entry point. `make demo` and `make test` set up everything they need on a
# fresh Debian machine (run as root): system packages, .venv/, and the lab.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      := .venv
# ansible-core 2.16 manages RHEL 8's Python 3.6: sanity runs on it as well as on the pinned release.
VENV_2_16 := .venv-2.16
BIN       := $(VENV)/bin
PYTHON    ?= python3
LAB_HOSTS ?= 2
INVENTORY ?=
LAB_INV   := .lab/inventory.yml
# `make demo INVENTORY=path` targets real hosts; without it, the built-in lab.
DEMO_INV  := $(if $(INVENTORY),$(INVENTORY),$(LAB_INV))
SYSTEM_PACKAGES := debootstrap iproute2 nftables openssh-client util-linux rsync git xz-utils openssl
COLLECTION_LINK := .collections/ansible_collections/instanton/platform
BUILD_ROOT := .build/ansible_collections/instanton/platform
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: help system-deps venv lab crio-lab registry-lab lab-destroy lab-status demo test unit units units-2.16 lint docs-lint docs sanity sanity-2.16 compat packaging integration molecule collection bench clean

help:
	@echo "make demo        provision the lab (or INVENTORY=path), build an InstantOn image, compare cold and InstantOn starts"
	@echo "make test        unit tests, lint, docs lint, sanity and ansible-test units (2.16 and pinned), Python 3.6 check, clean install, molecule and integration tests on lab hosts"
	@echo "make unit        the unit tests with pytest (fast); make units | units-2.16: the same tests through ansible-test units"
	@echo "make docs        the collection's HTML docs (antsibull-docs) in docs/_build/html"
	@echo "make bench       cold start against InstantOn restore, medians and ratios"
	@echo "make lab | lab-destroy | lab-status    the built-in lab (LAB_HOSTS=$(LAB_HOSTS))"

system-deps: .lab/.system-deps
.lab/.system-deps:
	@command -v apt-get >/dev/null || { echo "system-deps: this needs a Debian/Ubuntu machine (apt-get)"; exit 1; }
	@[ "$$(id -u)" = 0 ] || { echo "system-deps: run as root (the lab needs namespaces and mounts)"; exit 1; }
	apt-get update -q
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $(SYSTEM_PACKAGES)
	@mkdir -p .lab && touch $@

venv: $(VENV)/.installed $(COLLECTION_LINK)
$(VENV)/.installed: requirements/controller.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements/controller.txt
	@touch $@
$(COLLECTION_LINK):
	@mkdir -p $(dir $@) && ln -sfn ../../.. $@

lab: system-deps
	$(PYTHON) lab/lab.py up --hosts $(LAB_HOSTS)
# Real CRI-O on the lab hosts (the CRI-O tests run this themselves, once per session).
# No registry here carries CRI-O: the lab installs it from a kit of binaries built from its sources.
CRIO_KIT ?= $(abspath ../shared/cri-o)
export CRIO_KIT
crio-lab: venv lab
	$(BIN)/ansible-playbook -i $(LAB_INV) -e crio_lab_kit=$(CRIO_KIT) lab/crio.yml
# A TLS registry with a lab CA on the first lab host (the trust tests run this themselves, once per session).
registry-lab: venv lab
	$(BIN)/ansible-playbook -i $(LAB_INV) lab/registry.yml
lab-destroy:
	$(PYTHON) lab/lab.py down
lab-status:
	@$(PYTHON) lab/lab.py status

demo: venv $(if $(INVENTORY),,lab)
	$(if $(INVENTORY),,$(BIN)/ansible-playbook -i $(LAB_INV) lab/registry.yml)
	$(BIN)/ansible-playbook -i $(DEMO_INV) playbooks/demo.yml
	@$(BIN)/python tests/report_demo.py .lab/results/demo.json

test: unit lint docs-lint sanity sanity-2.16 units units-2.16 compat packaging integration

unit: venv
	$(BIN)/pytest -q tests/unit tests/bench

lint: venv
	$(BIN)/ansible-lint --profile production --offline
	$(BIN)/antsibull-changelog lint

# antsibull-docs reads the collection where Ansible finds it (the .collections link).
docs-lint: venv
	cd $(COLLECTION_LINK) && antsibull-docs lint-collection-docs --plugin-docs .

docs: venv
	@rm -rf .build/docs && mkdir -p .build/docs
	antsibull-docs sphinx-init --use-current --dest-dir .build/docs instanton.platform
	$(BIN)/pip install -q -r .build/docs/requirements.txt
	cd .build/docs && ./build.sh
	@rm -rf docs/_build && mkdir -p docs/_build && cp -r .build/docs/build/html docs/_build/html
	@echo "docs: docs/_build/html/index.html"

# ansible-test wants the collection at ansible_collections/<ns>/<name>: sanity runs on a copy.
collection: venv system-deps
	@rm -rf .build && mkdir -p $(BUILD_ROOT)
	@git ls-files -co --exclude-standard | grep -v '^lab/\|^\.ci/\|^bench/' | rsync -a --files-from=- ./ $(BUILD_ROOT)/
# Its pip bootstrap comes from a host that is unreachable here: provide a stand-in, named for
# the pip version the venv's ansible-test asks for.
pip_bootstrap = $(HOME)/.ansible/test/cache/get_pip_$(subst .,_,$(shell sed -n "s/.*pip='\([0-9.]*\)'.*/\1/p" \
  $(1)/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py | head -n 1)).py
# $(call ansible_test,VENV,COMMAND): ansible-test COMMAND from VENV on the collection's copy.
define ansible_test
	@mkdir -p $(HOME)/.ansible/test/cache && cp tests/sanity/get_pip.py $(call pip_bootstrap,$(1))
	cd $(BUILD_ROOT) && rm -rf .git && git init -q && git add -A && \
	  $(CURDIR)/$(1)/bin/ansible-test $(2) --python 3.11 --requirements --color no
endef
sanity: collection
	$(call ansible_test,$(VENV),sanity)

$(VENV_2_16)/.installed: requirements/ansible-core-2.16.txt
	$(PYTHON) -m venv $(VENV_2_16)
	$(VENV_2_16)/bin/pip install -q -r requirements/ansible-core-2.16.txt
	@touch $@
sanity-2.16: collection $(VENV_2_16)/.installed
	$(call ansible_test,$(VENV_2_16),sanity)

# tests/unit laid out as ansible-test expects (plugins/modules, plugins/module_utils/...):
# the same tests `make unit` runs with pytest, through ansible-test's own runner, in each venv's own
# Python (ansible-test installs its pytest plugins there) so the ansible CLIs they call match.
# The collections ours depends on (galaxy.yml), and ansible.posix for the tests' JSON callback, sit
# beside it in the copy as on a user's collections path: ansible-core 2.16 alone has none of them.
TEST_COLLECTIONS := community/general containers/podman kubernetes/core ansible/posix
define link_test_collections
	@for name in $(TEST_COLLECTIONS); do mkdir -p .build/ansible_collections/$$(dirname $$name) && \
	  ln -sfn $(CURDIR)/$(firstword $(wildcard $(VENV)/lib/python3*/site-packages))/ansible_collections/$$name \
	    .build/ansible_collections/$$name; done
endef
units: collection
	$(link_test_collections)
	$(call ansible_test,$(VENV),units --python-interpreter $(CURDIR)/$(VENV)/bin/python)
units-2.16: collection $(VENV_2_16)/.installed
	$(link_test_collections)
	$(call ansible_test,$(VENV_2_16),units --python-interpreter $(CURDIR)/$(VENV_2_16)/bin/python)

# Modules run on the managed hosts: RHEL 8 has platform-python 3.6.
compat: venv
	$(BIN)/vermin --no-tips --violations -t=3.6- plugins/modules plugins/module_utils

# The built tarball installed with only its declared dependencies; ansible-builder's context.
packaging: venv
	$(BIN)/pytest -q tests/packaging

# molecule converges the host role on the lab hosts (idempotence, testinfra);
# the integration tests then use those provisioned hosts.
integration: venv lab
	$(BIN)/molecule test
	INSTANTON_PROVISIONED=1 $(BIN)/pytest -q tests/integration

bench: venv lab
	$(BIN)/python bench/run.py

clean:
	rm -rf .build .collections $(VENV) $(VENV_2_16) docs/_build
