"""Every tunable of the sync in one place, each with the reason for its value.

Plain numbers, importing nothing, so that the core and the Dagster layer read the same ones.
Three layers retry, each for its own kind of failure, innermost first:

| layer | retries what | how often, how long | code |
|---|---|---|---|
| one HTTP request | 429, 409, 5xx, network errors, a body cut short | 8 times, 0.5 s doubling to 30 s with equal jitter, at least what `Retry-After` asks (up to 60 s): about 92 s in all | stripe_api/retry.py |
| one warehouse transaction | busy: deadlock, serialization failure, SQLite's busy lock; lost connection: terminated, restart, failover | busy: 5 times from 0.05 s doubling (about 3 s); lost: for 60 s, 0.5 s doubling to 15 s apart | warehouse/transient.py |
| one Dagster step (asset) | what is still transient after the two above | 3 times, 30 s, 60 s, 120 s later (±50 %) | dagster_defs/assets.py |

Permanent errors (a rejected key, a bad setting, Stripe's 4xx other than 409 and 429, a
warehouse never reached) skip all three and fail at once.
"""

# -- HTTP requests (stripe_api/retry.py, stripe_api/transport.py) ----------------------------

HTTP_MAX_RETRIES = 8
HTTP_BASE_DELAY_SECONDS = 0.5
HTTP_MAX_DELAY_SECONDS = 30.0
# A server may ask for longer; waiting more than this per attempt would look like a hang.
HTTP_MAX_RETRY_AFTER_SECONDS = 60.0
# Stripe answers list pages in well under a second; 30 s is a stalled answer, not a slow one.
# (The stripe package's own default, 80 s, made every stall cost more than a minute.)
HTTP_READ_TIMEOUT_SECONDS = 30.0
# A connection that takes seconds to open is not coming.
HTTP_CONNECT_TIMEOUT_SECONDS = 10.0
# Kept open for reuse; more threads than this still work, on connections opened for one request.
HTTP_MAX_CONNECTIONS = 64

# -- the request budget (stripe_api/budget.py) ------------------------------------------------

# Stripe's limits (docs.stripe.com/rate-limits): 100 requests per second per account in live
# mode, 25 in a sandbox, and 25 per endpoint (one named operation, stripe_api/endpoints.py).
LIVE_REQUESTS_PER_SECOND = 100.0
TEST_REQUESTS_PER_SECOND = 25.0
ENDPOINT_REQUESTS_PER_SECOND = 25.0
# APIs Stripe documents as stricter, each shared by all of its read endpoints.
STRICTER_ENDPOINT_LIMITS = {"search": 20.0, "files": 20.0}
# The share of the account's global limit the sync takes by default. The rest is the user's own
# application's: its checkout reads customers and payment methods through the same limit, and a
# sync at 100/s would answer its traffic with 429s. At 60 % a live account's sync runs at 60/s,
# still more than two endpoints at their cap (a full sync lists several at once), and leaves 40/s,
# several times what a busy checkout needs. Endpoint caps are not shared out: the sync's list
# endpoints are rarely the application's, and a 429 the application causes slows the sync down
# (the adaptive rate below). STRIPE_REQUESTS_PER_SECOND sets the budget outright.
DEFAULT_BUDGET_SHARE = 0.6
# How many of the usually largest types (catalog/declarations.py: USUALLY_LARGEST) get their
# endpoint's cap before the others while their listing runs (stripe_api/budget.py: _give_way).
RANKS_THAT_GO_FIRST = 1
# Slots are spaced a little wider than 1/rate: a request that leaves late (a busy CPU, a new
# connection) or is counted late by the server must not bunch into the next second with the
# ones after it. At 1.03, a million objects at full speed still met a few 429s; at 1.05, none.
BUDGET_SPACING_MARGIN = 1.05
# An endpoint's requests wait for a global slot after their turn, which shifts some of them
# a little later than others: at 1.05, one listing at 25/s met a 429 in about 100 requests.
ENDPOINT_SPACING_MARGIN = 1.08
# How late, in slots, a request may still use its slot before it queues again. A request late
# by k slots shares a one-second window with up to k more than the rate: the global budget's
# share leaves room for that, an endpoint's cap (Stripe's own limit, less the margin) does not.
BUDGET_LATE_SLOTS = 2
ENDPOINT_LATE_SLOTS = 0.5

# After a 429, the limit it names (the endpoint's, or the global one) runs at CUT times its rate
# at the time, then climbs back by RECOVERY of its configured rate per second: from 70 % to the
# full rate in 15 s. A 429 for a request sent before the last cut cuts nothing more (without a
# send time: one within HOLD seconds of the cut). Under a budget twice what Stripe allows, this settles just under the real limit
# with a 429 every few seconds (benchmarks/backfill.py --budget-too-high).
ADAPTIVE_CUT = 0.7
ADAPTIVE_RECOVERY_PER_SECOND = 0.02
ADAPTIVE_HOLD_SECONDS = 1.0
ADAPTIVE_FLOOR = 0.05

# -- listing (stripe_api/windows.py, actions/) --------------------------------------------------

# Requests in flight at once while listing or retrieving; the request budget caps the rate.
# 16 keeps a 100 req/s budget busy at up to 160 ms per request.
CONCURRENCY = 16
# Pages a listing may queue ahead of the writing when its parents have child lists to fetch. A
# flush waits for its parents' children, and a long invoice's lines are pages fetched one after
# another (900 lines: 9 requests, over a second). With the usual queue (one page per worker)
# the listing stalled during each such wait: invoices alone listed at 11 pages/s of their 25.
# 64 pages of invoices are about 60 MB.
CHILD_LIST_QUEUE_PAGES = 64
# Requests beyond the pages needed that a backfill may spend cutting `created` windows, as a
# share of those pages (plus one per worker).
MAX_LISTING_WASTE = 0.05
# Log a long listing's progress this often, so that it is visibly alive.
PROGRESS_EVERY_SECONDS = 5.0

# -- writing (actions/, warehouse/) ------------------------------------------------------------

# Rows per flush: one multi-row upsert and one backfill checkpoint. A killed run refetches at
# most the pages since its last flush. SQLAlchemy cuts the statement further where a database
# bounds its parameters (SQLite: 32,766; 500 invoices, 84 columns, are two statements).
FLUSH_EVERY = 500
# A due flush is put off while its parents' child lists are still being fetched, up to this many
# times FLUSH_EVERY rows: a flush waits for them, and waiting at every 500 invoices for the last
# long invoice's lines (pages fetched one after another) held invoices to 8 pages/s of their 25.
FLUSH_PUT_OFF = 10
# How long a type that changes only along with other events (catalog/declarations.py:
# ANNOUNCED_BY) may go unlisted while its account sends no event at all: a day, so that what
# came without an event (Stripe's own fees) is at most a day late, for one request per account.
QUIET_LISTING_MAX_AGE_SECONDS = 86_400
WAREHOUSE_BUSY_RETRIES = 5  # 0.05 s doubling: about 3 s in all
# A PostgreSQL restart takes seconds; managed failovers document 30-60 s.
WAREHOUSE_RECONNECT_SECONDS = 60.0
WAREHOUSE_RECONNECT_DELAYS = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0)  # then 15 s apart
# SQLite waits this long for its write lock before "database is locked" (then the busy retries).
SQLITE_BUSY_TIMEOUT_MS = 120_000
# The server ends a session it was told to end (MySQL's KILL, pg_terminate_backend) after saying
# so: the client sees the connection gone while the session, in state "Killed", still holds its
# named lock for a moment (seen on MariaDB and PostgreSQL under load). Taking the lock again after
# a loss waits this long for that before concluding that another run holds it (one that does is
# then noticed this much later, and nothing is written meanwhile).
LOST_SESSION_GRACE_SECONDS = 5.0
# A run waiting for another run's sync lock polls it this often and logs this often.
LOCK_POLL_SECONDS = 1.0
LOCK_LOG_EVERY_SECONDS = 30.0

# -- events (actions/incremental.py, stripe_api/events.py) ----------------------------------------

# Stripe keeps events 30 days; a cursor older than this backfills instead, a day to spare.
SAFE_EVENT_AGE_SECONDS = 29 * 86_400
# Events are read again this far behind the cursor: Stripe does not promise that events become
# visible in `created` order. Already applied ones are recognised by ID and cost only the reading.
EVENT_OVERLAP_SECONDS = 300
MAX_RECENT_EVENT_IDS = 5_000
# Types without events (actions/sync/recent.py) list again objects created since their oldest
# row that may still change (declarations.STILL_CHANGING), but never from further back than
# this: a balance transaction pending for longer is a dispute's reserve, and the weekly
# reconcile lists it.
MAX_SETTLING_LOOKBACK_SECONDS = 60 * 86_400
# A type without events whose table holds at most this many live rows (of the account) is listed
# whole every run: ten pages, under half a second of its endpoint, and every change and deletion
# found at once. A larger one lists what is new (recent.py) and leaves the rest to the reconcile.
WHOLE_LISTING_MAX_ROWS = 1_000

# Objects kept in _stripe_sync_errors that each events run of a table retrieves again, those
# seen longest ago first: one batch of retrieves (100 requests at most, one where the type's
# list filters by IDs), a second or so of the budget. A fixed hook clears a backlog of 10,000
# in 100 runs; an ID sync of the IDs, or a full refresh, clears it at once.
SYNC_ERRORS_RETRIED_PER_RUN = 100

# -- Dagster (dagster_defs/) ---------------------------------------------------------------------

# How often the events sensor polls Stripe (STRIPE_EVENTS_POLL_SECONDS): a quiet tick is one request.
EVENTS_POLL_SECONDS = 60
# Steps of the full sync and the reconcile at once. Dagster's default is one per CPU, but a step
# spends its time waiting on Stripe's rate limits: a step at its endpoint's cap (25 pages/s) uses
# about a fifth of a core. Enough steps to keep the default budget (60/s) busy at 25/s each, and
# a few for the small tables; more shared the global budget thinner among the large ones (a
# million objects, docs/performance.md: 8 steps 228 s, 5 steps 219 s, 3 steps 231 s). Each step
# holds 150-300 MB. With a budget above 100/s, more.
STEPS_AT_ONCE = 5
ASSET_MAX_RETRIES = 3
ASSET_RETRY_DELAY_SECONDS = 30  # doubling, ±50 % jitter
# A table is stale when its last successful sync is older than this: the daily 03:00 sync plus
# two hours for a long run (STRIPE_FRESHNESS_HOURS).
FRESHNESS_HOURS = 26.0
