# Everything runs through the project-local virtualenv: it provides libtorch (tch builds against the
# pip wheel with LIBTORCH_USE_PYTORCH=1) and the Python references the tests compare against.
VENV    ?= .venv
PYTHON  ?= python3
STAMP   := $(VENV)/.installed
BIN     := target/release/tumorseg
FIXTURE := tests/fixtures/brain-tumor-mini

export PATH := $(abspath $(VENV))/bin:$(PATH)
export LIBTORCH_USE_PYTORCH := 1

.PHONY: setup build test demo lint clean-venv

setup: $(STAMP)

# torch's CUDA wheels take 4.9 GB installed; pip's download cache would keep a second, compressed copy
# that is never read again, and CI once ran out of disk in exactly this step. Measured peak of a fresh
# clone's `make test` without the cache: 5.8 GB (venv, target/ without incremental cache).
$(STAMP): scripts/requirements.txt
	@scripts/check_disk.sh . 7
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --no-cache-dir --upgrade pip
	$(VENV)/bin/python -m pip install --quiet --no-cache-dir -r scripts/requirements.txt
	touch $@

build: $(STAMP)
	cargo build --release

# cargo test builds the binary the integration tests run, with the dev-dependencies' features
# unified in; a `cargo build` before it would compile the image and DICOM crates a second time.
test: $(STAMP) lint
	cargo test --release -- --test-threads 2

demo: build
	$(BIN) pipeline $(FIXTURE) --out runs/demo --size 128 --epochs 3 --batch 4 --encoder-weights none --overwrite

lint: $(STAMP)
	cargo fmt --all -- --check
	cargo clippy --release --all-targets -- -D warnings

clean-venv:
	rm -rf $(VENV)
