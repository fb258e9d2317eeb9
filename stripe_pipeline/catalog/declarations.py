"""What the `stripe` package cannot tell about a type, declared by hand.

Everything else (fields, types, docs, list paths, child lists, event names) comes from the
generated catalogue. Each entry here says something only Stripe's documentation or experience
says: which area of Stripe a type belongs to, what is not account data, which ID prefix a type
has, which list filter to clear, which field is a secret, which event means deleted.
"""

from __future__ import annotations

# Types with a list endpoint that are not an account's own data, so they get no table.
LEFT_OUT: dict[str, str] = {
    "country_spec": "Stripe's description of each country, the same for every account",
    "exchange_rate": "Stripe's current FX rates, not account data (and deprecated)",
    "tax_code": "Stripe's catalogue of product tax codes, the same for every account",
    "reporting.report_type": "Stripe's catalogue of report types, the same for every account",
    "climate.product": "Stripe Climate's catalogue of products, the same for every account",
    "climate.supplier": "Stripe Climate's catalogue of suppliers, the same for every account",
    "billing.feedback_option": "the customer portal's fixed list of cancellation reasons",
    "apps.secret": "secrets that Stripe Apps store; a copy in a warehouse would leak them (listing also needs a scope)",
    "event": "read as the change feed of every table, not mirrored; Stripe keeps events for 30 days only",
    "tax.location": "listing needs a `type` and returns Stripe's shared venue directory, not account objects",
    "plan": "the legacy form of recurring prices: every plan is also a price, synced in `prices`",
    "payment_method": "its list endpoint covers Treasury only; customers' payment methods are the child table `payment_methods`",
}

# Stripe's product areas, by namespace (`issuing.card`) or by object name for top-level types.
AREA_BY_NAMESPACE: dict[str, str] = {
    "billing": "billing",
    "billing_portal": "billing",
    "entitlements": "billing",
    "product_catalog": "billing",
    "test_helpers": "billing",
    "checkout": "payments",
    "radar": "radar",
    "issuing": "issuing",
    "treasury": "treasury",
    "terminal": "terminal",
    "tax": "tax",
    "identity": "identity",
    "climate": "climate",
    "financial_connections": "financial_connections",
    "reporting": "reporting",
    "apps": "developers",
    "forwarding": "payments",
}
AREA_BY_OBJECT: dict[str, str] = {
    **dict.fromkeys(
        (
            "coupon",
            "credit_note",
            "invoice",
            "invoiceitem",
            "invoice_payment",
            "invoice_rendering_template",
            "price",
            "product",
            "promotion_code",
            "quote",
            "shipping_rate",
            "subscription",
            "subscription_item",
            "subscription_schedule",
            "tax_rate",
            "tax_id",
        ),
        "billing",
    ),
    **dict.fromkeys(
        (
            "balance_transaction",
            "charge",
            "customer",
            "dispute",
            "payment_intent",
            "payment_link",
            "payment_method_configuration",
            "payment_method_domain",
            "apple_pay_domain",
            "payment_record",
            "payment_attempt_record",
            "refund",
            "setup_intent",
            "setup_attempt",
            "payout",
            "topup",
            "three_d_secure.authentication",
        ),
        "payments",
    ),
    **dict.fromkeys(("account", "application_fee", "transfer"), "connect"),
    **dict.fromkeys(("review",), "radar"),
    **dict.fromkeys(("scheduled_query_run",), "reporting"),
    **dict.fromkeys(("file", "file_link", "webhook_endpoint"), "developers"),
}
# What the default full sync covers when STRIPE_OBJECTS is not set: the billing and payments
# core, where revenue is, with the child tables their objects embed (they cost no request).
DEFAULT_OBJECTS = (
    "customer",
    "product",
    "price",
    "coupon",
    "promotion_code",
    "tax_rate",
    "subscription",
    "subscription_schedule",
    "invoice",
    "invoiceitem",
    "invoice_payment",
    "credit_note",
    "quote",
    "charge",
    "payment_intent",
    "setup_intent",
    "refund",
    "dispute",
    "balance_transaction",
    "payout",
    "checkout.session",
)

# The types that are usually an account's largest, largest first: a balance transaction for
# every charge, refund, fee and payout; a charge and a payment intent for every payment. One
# type's listing goes no faster than its endpoint's 25 requests a second, so the largest sets a
# full sync's length unless its step starts first (dagster_defs/assets.py: `dagster/priority`).
USUALLY_LARGEST = ("balance_transaction", "charge", "payment_intent", "invoice", "customer", "subscription")

# Table names that the list path would get wrong.
TABLE_NAMES: dict[str, str] = {"test_helpers.test_clock": "test_clocks", "scheduled_query_run": "sigma_scheduled_query_runs"}

# The prefix of each type's IDs (from Stripe's own example objects), for the ID sync job. Types
# missing here take an explicit type in the job: their IDs are chosen by users (coupons), shared
# with another type (plans are prices) or not yet documented.
ID_PREFIXES: dict[str, tuple[str, ...]] = {
    "account": ("acct_",),
    "apple_pay_domain": ("apwc_",),
    "application_fee": ("fee_",),
    "balance_transaction": ("txn_",),
    "billing_portal.configuration": ("bpc_",),
    "billing.meter": ("mtr_", "meter_"),
    "charge": ("ch_", "py_"),
    "checkout.session": ("cs_",),
    "climate.order": ("climorder_",),
    "credit_note": ("cn_",),
    "credit_note_line_item": ("cnli_",),
    "customer": ("cus_",),
    "customer_balance_transaction": ("cbtxn_",),
    "customer_cash_balance_transaction": ("ccsbtxn_",),
    "discount": ("di_",),
    "dispute": ("dp_", "du_"),
    "entitlements.active_entitlement": ("ent_",),
    "entitlements.feature": ("feat_",),
    "fee_refund": ("fr_",),
    "file": ("file_",),
    "file_link": ("link_",),
    "financial_connections.account": ("fca_",),
    "financial_connections.transaction": ("fctxn_",),
    "forwarding.request": ("fwdreq_",),
    "identity.verification_report": ("vr_",),
    "identity.verification_session": ("vs_",),
    "invoice": ("in_",),
    "invoiceitem": ("ii_",),
    "issuing.authorization": ("iauth_",),
    "issuing.card": ("ic_",),
    "issuing.cardholder": ("ich_",),
    "issuing.dispute": ("idp_",),
    "issuing.personalization_design": ("ipcd_",),
    "issuing.physical_bundle": ("ics_",),
    "issuing.token": ("intok_",),
    "issuing.transaction": ("ipi_",),
    "line_item": ("il_",),
    "item": ("li_",),
    "payment_intent": ("pi_",),
    "payment_link": ("plink_",),
    "payment_method": ("pm_",),
    "payment_method_configuration": ("pmc_",),
    "payment_method_domain": ("pmd_",),
    "payout": ("po_",),
    "person": ("person_",),
    "price": ("price_",),
    "product": ("prod_",),
    "promotion_code": ("promo_",),
    "quote": ("qt_",),
    "radar.early_fraud_warning": ("issfr_",),
    "radar.value_list": ("rsl_",),
    "radar.value_list_item": ("rsli_",),
    "refund": ("re_", "pyr_"),
    "reporting.report_run": ("frr_",),
    "review": ("prv_",),
    "scheduled_query_run": ("sqr_",),
    "setup_attempt": ("setatt_",),
    "setup_intent": ("seti_",),
    "shipping_rate": ("shr_",),
    "subscription": ("sub_",),
    "subscription_item": ("si_",),
    "subscription_schedule": ("sub_sched_",),
    "tax.registration": ("taxreg_",),
    "tax_id": ("txi_",),
    "tax_rate": ("txr_",),
    "terminal.configuration": ("tmc_",),
    "terminal.location": ("tml_",),
    "terminal.reader": ("tmr_",),
    "test_helpers.test_clock": ("clock_",),
    "topup": ("tu_",),
    "transfer": ("tr_",),
    "transfer_reversal": ("trr_",),
    "treasury.credit_reversal": ("credrev_",),
    "treasury.debit_reversal": ("debrev_",),
    "treasury.financial_account": ("fa_",),
    "treasury.inbound_transfer": ("ibt_",),
    "treasury.outbound_payment": ("obp_",),
    "treasury.outbound_transfer": ("obt_",),
    "treasury.received_credit": ("rc_",),
    "treasury.received_debit": ("rd_",),
    "treasury.transaction": ("trxn_",),
    "treasury.transaction_entry": ("trxne_",),
    "webhook_endpoint": ("we_",),
    "bank_account": ("ba_",),
    "card": ("card_",),
}

# Filters a full listing needs: without them Stripe leaves objects out.
LIST_PARAMS: dict[str, dict] = {"subscription": {"status": "all"}}

# A list filter that takes many IDs at once: the ID sync retrieves up to 100 in one request.
LIST_IDS_FILTERS: dict[str, str] = {"product": "ids"}

# Fields Stripe says never to store: they let whoever holds them act on the object.
REDACTED_FIELDS: dict[str, tuple[str, ...]] = {
    "payment_intent": ("client_secret",),
    "setup_intent": ("client_secret",),
    "checkout.session": ("client_secret",),
    "webhook_endpoint": ("secret",),
    "identity.verification_session": ("client_secret",),
    "treasury.financial_account": ("financial_addresses",),
    "issuing.card": ("number", "cvc"),
}

# Events named `<prefix>.…` whose object is not `<prefix>`'s; `None` where the prefix is no
# listed type's (`customer.discount`, `balance`, …). Matching on an event's object is checked
# again at run time, so a wrong guess costs nothing but a skipped event.
EVENT_PREFIX_OBJECTS: dict[str, str | None] = {
    "customer.subscription": "subscription",
    "charge.dispute": "dispute",
    "charge.refund": "refund",
    "application_fee.refund": "fee_refund",
    "account.external_account": "external_account",
    "customer.tax_id": "tax_id",
    "customer.source": None,
    "customer.discount": None,
    "billing.alert": None,  # `billing.alert.triggered` carries a `billing.alert_triggered`
    "invoice.upcoming": None,
    "issuing_authorization": "issuing.authorization",
    "issuing_card": "issuing.card",
    "issuing_cardholder": "issuing.cardholder",
    "issuing_dispute": "issuing.dispute",
    "issuing_personalization_design": "issuing.personalization_design",
    "issuing_token": "issuing.token",
    "issuing_transaction": "issuing.transaction",
    "sigma.scheduled_query_run": "scheduled_query_run",
}
# Types Stripe sends no events about, whose objects still change after they are created, and
# while what is true: (field, value). Their runs list again every object created since the
# oldest row for which it is still true (policies.MAX_SETTLING_LOOKBACK_SECONDS at most). A balance
# transaction is `pending` until its funds become available (`available_on`, days to weeks
# after, by the account's payout schedule); `available`, it no longer changes. Other types
# without events are listed from their last listing on, and in full by the weekly reconcile.
STILL_CHANGING: dict[str, tuple[str, str]] = {"balance_transaction": ("status", "pending")}
# Types Stripe sends no events about whose objects are made and changed only along with something
# that does send events: a balance transaction comes with the charge, refund, payout, transfer or
# fee that made it, and its funds settling send `balance.available`. A run whose account had no
# event at all since the type's last listing lists nothing (a quiet connected account costs no
# request for them), for up to policies.QUIET_LISTING_MAX_AGE_SECONDS: Stripe sends no
# `balance.available` for negative amounts, so its own fees may come without an event. The event
# named is the one the emulator sends for them.
ANNOUNCED_BY: dict[str, str] = {"balance_transaction": "balance.available"}
# Events that announce an ended object that still exists (a canceled subscription stays).
NOT_DELETIONS = frozenset({"customer.subscription.deleted"})
# Events that are about something other than the object's current state.
IGNORED_EVENTS = frozenset({"invoice.upcoming", "customer.subscription.trial_will_end", "invoice.will_be_due"})

# Child lists that get a table. The key is the parent's `list_<children>` method suffix, or the
# child type whose list needs the parent's ID. `table` and `parent_column` follow Stripe's words.
CHILD_TABLES: dict[tuple[str, str], dict] = {
    ("invoice", "lines"): {"table": "invoice_line_items", "embedded": "lines"},
    ("subscription", "subscription_item"): {"table": "subscription_items", "embedded": "items"},
    ("credit_note", "lines"): {"table": "credit_note_line_items", "embedded": "lines"},
    ("checkout.session", "line_items"): {"table": "checkout_session_line_items"},
    ("customer", "balance_transactions"): {"table": "customer_balance_transactions"},
    ("customer", "cash_balance_transactions"): {"table": "customer_cash_balance_transactions"},
    ("customer", "tax_ids"): {"table": "customer_tax_ids"},
    ("customer", "payment_methods"): {"table": "payment_methods"},
    ("application_fee", "refunds"): {"table": "application_fee_refunds", "embedded": "refunds", "parent_field": "fee"},
    ("transfer", "reversals"): {"table": "transfer_reversals", "embedded": "reversals"},
    ("account", "persons"): {"table": "persons"},
    ("account", "external_accounts"): {"table": "external_accounts", "embedded": "external_accounts", "object": "bank_account"},
    ("account", "capabilities"): {"table": "capabilities", "key": "parent"},  # `card_payments` is no unique ID
    ("payment_link", "line_items"): {"table": "payment_link_line_items"},
    ("quote", "line_items"): {"table": "quote_line_items"},
    ("product", "features"): {"table": "product_features"},
    ("setup_intent", "setup_attempt"): {"table": "setup_attempts"},
    ("payment_record", "payment_attempt_record"): {"table": "payment_attempt_records"},
    ("customer", "entitlements.active_entitlement"): {"table": "entitlements_active_entitlements"},
    ("financial_connections.account", "financial_connections.transaction"): {"table": "financial_connections_transactions"},
    ("issuing.card", "issuing.token"): {"table": "issuing_tokens"},
    ("radar.value_list", "radar.value_list_item"): {"table": "radar_value_list_items"},
    **{
        ("treasury.financial_account", f"treasury.{name}"): {"table": table}
        for name, table in (
            ("credit_reversal", "treasury_credit_reversals"),
            ("debit_reversal", "treasury_debit_reversals"),
            ("inbound_transfer", "treasury_inbound_transfers"),
            ("outbound_payment", "treasury_outbound_payments"),
            ("outbound_transfer", "treasury_outbound_transfers"),
            ("received_credit", "treasury_received_credits"),
            ("received_debit", "treasury_received_debits"),
            ("transaction", "treasury_transactions"),
            ("transaction_entry", "treasury_transaction_entries"),
        )
    },
}

# Columns that older API versions had and users' SQL may still read: kept, filled when an
# account's API version still sends them (invoices had `subscription` before 2025-03-31).
LEGACY_COLUMNS: dict[str, dict[str, str]] = {"invoice": {"subscription": "reference"}}
