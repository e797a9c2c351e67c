# lvs — the project's interface. `just` lists the recipes.

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := justfile_directory() / ".venv"
bin := if path_exists(venv / "bin" / "lvs") == "true" { venv / "bin/" } else { "" }

# List the recipes
default:
    @just --list --unsorted

# Serve the library (or the demo library) on http://127.0.0.1:8000
dev *args:
    {{bin}}lvs serve {{args}}

# Index the library folders and exit
scan *args:
    {{bin}}lvs scan {{args}}

# Run the whole test suite (browser, PostgreSQL and Redis tests included when available), one
# worker per core (at most 4); a test file runs on one worker. `just test -n0 tests/x.py` runs serially.
test *args:
    {{bin}}python -m pytest --numprocesses auto --maxprocesses 4 --dist loadfile {{args}}

# Lint: ruff (lint + format check) and mypy
lint:
    {{bin}}ruff check .
    {{bin}}ruff format --check .
    {{bin}}mypy

# Format the code with ruff
fmt:
    {{bin}}ruff format .
    {{bin}}ruff check --fix .

# Run every benchmark and print the figures (see bench/README.md)
bench:
    {{bin}}python -m bench all

# Upgrade the database to the newest migration
db-upgrade:
    {{bin}}lvs db upgrade --no-prompt

# Create a new migration from the models: just db-revision "add tags"
db-revision message:
    {{bin}}lvs db make-migrations --autogenerate --no-prompt -m "{{message}}"

# Generate the demo library
demo:
    {{bin}}lvs demo

# Benchmark byte-range streaming against nginx (--quick: a smoke run)
bench-stream *args:
    {{bin}}python -m bench stream {{args}}

# Benchmark library pages on 100 000 videos against nginx serving the same HTML (--quick)
bench-pages *args:
    {{bin}}python -m bench pages {{args}}

# Benchmark 50 users rating concurrently, with a lost-write check (--quick)
bench-writes *args:
    {{bin}}python -m bench writes {{args}}

# Benchmark indexing 10 000 small clips: first scan, rescan, thumbnails (--quick)
bench-scan *args:
    {{bin}}python -m bench scan {{args}}

# Benchmark `lvs serve` start-up to the first page (--quick)
bench-startup *args:
    {{bin}}python -m bench startup {{args}}

# Benchmark the real request mix on SQLite (1 and 2 workers) and PostgreSQL + Redis (--quick)
bench-load *args:
    {{bin}}python -m bench load {{args}}

# Benchmark converted playback: first picture, seek, transcode speed, N+1 viewers (--quick)
bench-playback *args:
    {{bin}}python -m bench playback {{args}}
