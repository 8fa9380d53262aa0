# Two commands do all set-up on a fresh machine: `make demo` and `make test` (README).
PYTHON ?= python3
VENV   := .venv
READY  := $(VENV)/.kaigiroku-ready
SAMPLE := tests/data/sample
KG     := $(VENV)/bin/kaigiroku

.PHONY: demo test test-fast setup models clean screenshots app shortcut

setup: $(READY)

$(READY): requirements.txt requirements.lock pyproject.toml scripts/setup.sh scripts/system-deps.sh models/embedded.yaml
	PYTHON=$(PYTHON) VENV=$(VENV) bash scripts/setup.sh

# The demo's output is the demo's own: re-running only redoes it when code or sample changed.
demo: out/sample.docx
	@echo "demo draft: out/sample.docx (+ out/sample.json)"

out/sample.docx: $(READY) $(SAMPLE)/meeting.flac $(SAMPLE)/meeting.yaml $(wildcard pipeline/*.py pipeline/*/*.py) configs/default.yaml
	$(KG) draft $(SAMPLE)/meeting.flac --meeting $(SAMPLE)/meeting.yaml -o out/sample.docx --force

# The tests start real servers and tools (PulseAudio, Chromium …): installed here as root,
# else the one command to run is printed and the tests do not start.
test: $(READY)
	bash scripts/system-deps.sh test
	$(VENV)/bin/python -m pytest

test-fast: $(READY)
	bash scripts/system-deps.sh test
	$(VENV)/bin/python -m pytest -m "not slow"

models: $(READY)
	$(KG) models

# The clerk's way in: the app in the browser (Ctrl-C or closing its window ends it).
app: $(READY)
	$(KG) app

# A desktop icon and a menu entry that start the app (Linux desktops: freedesktop .desktop
# files), so the clerk never opens a terminal. The window it opens shows the app's messages;
# closing it ends the app (a recording cut off there is offered at the next start).
shortcut: $(READY)
	$(VENV)/bin/python scripts/shortcut.py

clean:
	rm -rf out .pytest_cache

# The README's pictures of the app (docs/screenshots/): the browser tests that walk through
# every page save each step. Needs a Japanese font for Chromium (Debian: fonts-ipafont-gothic).
screenshots: $(READY)
	@fc-list :lang=ja | grep -q . || { echo "日本語のフォントがありません: sudo apt-get install -y fonts-ipafont-gothic" >&2; exit 1; }
	KAIGIROKU_SCREENSHOTS=docs/screenshots $(VENV)/bin/python -m pytest -m slow \
		tests/test_app_record_browser.py::test_a_meeting_from_the_mic_to_word tests/test_accounts_browser.py
