#!/usr/bin/env bash
# Start N Dagster Celery workers on this machine (default 2) and wait; Ctrl-C or SIGTERM stops
# them all. Run it on as many machines as you like: every worker takes steps from the same
# broker. The environment gives everything (deploy/README.md): DAGSTER_HOME (with
# deploy/dagster.yaml in it), DAGSTER_PG_URL, DAGSTER_CELERY_CONFIG, DAGSTER_CELERY_BROKER_URL,
# DAGSTER_CELERY_BACKEND_URL, and what the sync reads (STRIPE_API_KEY, WAREHOUSE_URL, …).
set -euo pipefail
count="${1:-2}"
config="${DAGSTER_CELERY_CONFIG:?set DAGSTER_CELERY_CONFIG to the Celery YAML file (deploy/celery.yaml)}"
: "${DAGSTER_HOME:?set DAGSTER_HOME to the folder holding dagster.yaml}"

# `dagster-celery worker start` runs `celery worker` as its child: job control puts each pair in a
# process group of its own, so that a stop reaches the celery worker too. SIGTERM is Celery's
# warm shutdown: steps under way finish first.
set -m
pids=()
trap 'for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done; wait' INT TERM
for i in $(seq "$count"); do
  # -n names the worker (stripe-1@host, …) in the run's logs; -A is dagster-celery's app, which
  # imports the code location of each step it runs, so nothing here names the job.
  dagster-celery worker start -A dagster_celery.app -y "$config" -n "stripe-$i" &
  pids+=("$!")
done
wait
