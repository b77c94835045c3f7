# The two commands of the README:
#   make app    set up (once) and start the explorer on http://localhost:8501
#   make test   set up everything the tests need (Python packages, Debian's chromium) and run the whole suite
PYTHON ?= python3
VENV   ?= .venv
PY      = $(VENV)/bin/python
# The tests find real MNIST as the product does: $CVAE_TEST_DATA_DIR, $CVAE_DATA_DIR, ../shared/data/mnist,
# the Keras cache, the Keras download (tests/conftest.py); with none, one message says how to provide it.

.PHONY: app test setup setup-test browser bench bench-quick clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed

setup-test: $(VENV)/.installed-test browser

# Playwright drives Debian's chromium (its own browser download is not possible offline); the Hindi pages need a
# Devanagari font (fonts-lohit-deva), or Chromium draws empty boxes.
BROWSER_PACKAGES = chromium fonts-lohit-deva
browser:
	@{ command -v chromium >/dev/null 2>&1 && fc-list :lang=hi | grep -q .; } || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null; \
	  else sudo apt-get update -qq && sudo apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null; fi; }

app: setup
	$(PY) -m streamlit run app.py

# Two workers, each test file on one of them (module-scoped servers and browsers start once): the suite is mostly
# browsers, servers and trainers waiting on each other, so two workers finish in about half the time on 2 cores.
test: setup-test
	$(PY) -m pytest -q -n 2 --dist loadfile

bench: setup
	$(PY) -m bench.throughput && $(PY) -m bench.latent_views && $(PY) -m bench.time_to_quality

bench-quick: setup
	$(PY) -m bench.throughput --quick && $(PY) -m bench.latent_views --reps 3 && $(PY) -m bench.time_to_quality --quick

clean:
	rm -rf $(VENV) .pytest_cache
