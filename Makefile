# Dossier — the README's two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
# gunicorn listens on this address only: the demo logins and the test payment provider must
# not be reachable from the LAN. `make run BIND=0.0.0.0` opens it up on purpose.
BIND ?= 127.0.0.1
STAMP := $(VENV)/.installed

.PHONY: run test bench bench-dunning bench-api soak install translations messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Re-install whenever pyproject.toml changes; compile the message catalogs every time.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev,test]'
	touch $(STAMP)

install: $(STAMP) translations

translations: $(STAMP)
	@$(BIN)/pybabel compile -d translations 2>&1 | grep -v '^compiling' || true

# After changing user-facing strings: refresh the template and the nl/de/en catalogs.
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output --project Dossier -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching

run: install
	@mkdir -p instance
	@test -s instance/secret_key || $(BIN)/python -c "import secrets; print(secrets.token_urlsafe(48))" > instance/secret_key
	SECRET_KEY=$$(cat instance/secret_key) $(BIN)/flask --app wsgi db upgrade
	SECRET_KEY=$$(cat instance/secret_key) $(BIN)/flask --app wsgi seed-demo --if-empty
	@echo ""
	@echo "  Dossier runs at http://localhost:$(PORT)/admin (listening on $(BIND) only; BIND=0.0.0.0 opens it to the LAN)"
	@echo "  Staff logins (password dossier-demo): owner@dossier.test, admin@dossier.test, employee@dossier.test"
	@echo "  Customer portal: http://localhost:$(PORT)/portal/ as customer@dossier.test (password dossier-demo)"
	@echo "  Outgoing e-mail is caught by a local SMTP sink: one .eml file per message in instance/mail/"
	@echo "  Logs are JSON lines (LOG_LEVEL=WARNING hides the access lines); Ctrl-C stops everything"
	@echo ""
	PATH=$(CURDIR)/$(BIN):$$PATH SECRET_KEY=$$(cat instance/secret_key) \
		BASE_URL=$${BASE_URL:-http://localhost:$(PORT)} PAYMENTS_TEST_PROVIDER=$${PAYMENTS_TEST_PROVIDER:-1} DOSSIER_PORT=$(PORT) BIND=$(BIND) \
		MAIL_SERVER=$${MAIL_SERVER:-127.0.0.1} MAIL_PORT=$${MAIL_PORT:-8025} \
		exec $(BIN)/python -m web.procfile Procfile

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The pages on cold traffic (bench/run.py), the CSV import of 10,000 and 100,000 customers
# (bench/csv_import.py; BENCH_SKIP_CSV=1 leaves it out), mail sync of 10,000 messages
# (bench/mail_sync.py; BENCH_SKIP_MAIL_SYNC=1 leaves it out), then the soak (BENCH_SKIP_SOAK=1
# leaves it out), a reminder run over 100,000 open invoices (BENCH_SKIP_DUNNING=1 leaves it out)
# and the REST API's upserts (bench/api_upsert.py; BENCH_SKIP_API=1 leaves it out).
bench: install
	$(BIN)/python -m bench.run
	@test -n "$(BENCH_SKIP_CSV)" || $(BIN)/python -m bench.csv_import --rows 10000 --rows 100000
	@test -n "$(BENCH_SKIP_MAIL_SYNC)" || $(BIN)/python -m bench.mail_sync
	@test -n "$(BENCH_SKIP_SOAK)" || $(BIN)/python -m bench.soak
	@test -n "$(BENCH_SKIP_DUNNING)" || $(BIN)/python -m bench.dunning
	@test -n "$(BENCH_SKIP_API)" || $(BIN)/python -m bench.api_upsert

# The reminder run alone (bench/dunning.py): PostgreSQL, 100,000 open invoices, < 60 s.
bench-dunning: install
	$(BIN)/python -m bench.dunning

# The REST API's upserts alone: 10,000 documents with lines, 2 gunicorn workers, PostgreSQL.
bench-api: install
	$(BIN)/python -m bench.api_upsert

# The soak alone: 100 simulated people for 60 s with writes (bench/soak.py); not CI.
soak: install
	$(BIN)/python -m bench.soak

clean:
	rm -rf $(VENV) instance/dossier.sqlite3
