# `make test` and `make demo` each install what they need into .venv, then run.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
FFMPEG_PACKAGES := libavcodec59 libavformat59 libavdevice59 libavfilter8 libswscale6 libswresample4 libavutil57
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install system-deps test test-all demo lint clean

install: $(STAMP) system-deps

# torch first (the CPU build), then everything else under constraints.txt, which pins torch==2.13.0 so nothing
# upgrades it to a CUDA build. torchaudio is never installed (see README.md, "Install").
$(STAMP): setup.cfg constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e ".[audio,demo,tensorboard,dev]"
	touch $(STAMP)

# FFmpeg 5.1 runtime libraries, needed by torchcodec to decode datasets' Audio feature.
system-deps:
	@if ldconfig -p | grep -q 'libavcodec.so.59'; then echo "FFmpeg runtime libraries: present"; else \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(FFMPEG_PACKAGES); fi

# `make test` leaves out the tests marked slow or gpu (the -m of addopts in pyproject.toml); `make test-all` replaces
# that selection with its own -m, so it runs the slow tests too (everything but gpu).
test: install
	$(BIN)/python -m pytest -q

test-all: install
	$(BIN)/python -m pytest -q -m "not gpu"

demo: install
	$(BIN)/hf-unlearn demo $(DEMO_ARGS)

lint: install
	$(BIN)/ruff check hf_unlearn tests recipes

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
