"""Payments: payment intents and the charges that attempt them, with the card's details and
the network's outcome."""

from __future__ import annotations

import random

from .helpers import DAY, PM_CONFIGURATION, list_object, metadata, new_id, person, random_string
from .vocabulary import BILLING_META, COUNTRIES, DECLINES


def card_details(rng: random.Random, currency: str, amount: int) -> dict:
    x = rng.random()
    brand = "visa" if x < 0.55 else "mastercard" if x < 0.85 else "amex" if x < 0.95 else "discover"
    countries = COUNTRIES.get(currency, ("US",))
    y = rng.random()
    return {
        "amount_authorized": amount,
        "brand": brand,
        "checks": {"address_line1_check": None, "address_postal_code_check": "pass" if rng.random() < 0.6 else None, "cvc_check": "pass"},
        "country": countries[0] if len(countries) == 1 else rng.choice(countries),
        "exp_month": rng.randint(1, 12),
        "exp_year": rng.randint(2026, 2032),
        "extended_authorization": {"status": "disabled"},
        "fingerprint": random_string(rng, 16),
        "funding": "credit" if y < 0.7 else "debit" if y < 0.98 else "prepaid",
        "incremental_authorization": {"status": "unavailable"},
        "installments": None,
        "last4": f"{rng.randint(0, 9999):04d}",
        "mandate": None,
        "multicapture": {"status": "unavailable"},
        "network": brand,
        "network_token": {"used": False},
        "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
        "three_d_secure": None,
        "wallet": None,
        "authorization_code": f"{rng.randint(0, 999999):06d}",
        "regulated_status": "unregulated" if rng.random() < 0.7 else "regulated",
        "network_transaction_id": f"{rng.randint(10**14, 10**15 - 1)}",
        "transaction_link_id": None,
    }


def _outcome(failure: tuple[str, str, str] | None) -> dict:
    """The network's verdict on a charge: approved, or the decline it failed with."""
    if failure is not None:
        _, decline_code, _ = failure
        return {
            "advice_code": "try_again_later" if decline_code == "insufficient_funds" else None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "declined_by_network",
            "reason": decline_code,
            "seller_message": "The bank did not return any further details with this decline.",
            "type": "issuer_declined",
        }
    return {
        "advice_code": None,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "approved_by_network",
        "reason": None,
        "seller_message": "Payment complete.",
        "type": "authorized",
    }


def charge_object(
    rng: random.Random,
    *,
    id: str,
    created: int,
    customer: str | None,
    payment_intent: str | None,
    amount: int,
    currency: str,
    status: str,
    captured: bool = True,
    payment_method: str | None = None,
    failure: tuple[str, str, str] | None = None,
    description: str | None = None,
    payer: tuple | None = None,
) -> dict:
    r = rng.random
    if payer is None:
        name, email, phone, address, _ = person(rng, currency)
    else:
        name, email, phone, address = payer[:4]
    succeeded = status == "succeeded"
    captured = succeeded and captured
    if status == "failed" and failure is None:
        failure = rng.choice(DECLINES)
    refunded_amount = 0
    if captured and r() < 0.04:
        refunded_amount = amount if r() < 0.7 else max(1, amount // rng.choice((2, 4, 5)))
    code, _, message = failure or (None, None, None)
    outcome = _outcome(failure)
    card = card_details(rng, currency, amount)
    if failure is not None:
        card["amount_authorized"] = card["authorization_code"] = None
        if code == "incorrect_cvc":
            card["checks"]["cvc_check"] = "fail"
    return {
        "amount": amount,
        "amount_captured": amount if captured else 0,
        "amount_refunded": refunded_amount,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": new_id(rng, "balance_transaction") if captured else None,
        "billing_details": {"address": dict(address) if address else None, "email": email, "name": name, "phone": phone, "tax_id": None},
        "calculated_statement_descriptor": "EXAMPLE SOFTWARE" if status != "failed" else None,
        "captured": captured,
        "created": created,
        "currency": currency,
        "customer": customer,
        "description": description,
        "disputed": captured and r() < 0.005,
        "failure_balance_transaction": None,
        "failure_code": code,
        "failure_message": message,
        "fraud_details": {},
        "id": id,
        "livemode": False,
        "metadata": metadata(rng, BILLING_META),
        "object": "charge",
        "on_behalf_of": None,
        "outcome": outcome,
        "paid": succeeded,
        "payment_intent": payment_intent,
        "payment_method": payment_method or new_id(rng, "payment_method"),
        "payment_method_details": {"card": card, "type": "card"},
        "receipt_email": email if email and r() < 0.5 else None,
        "receipt_number": None,
        "receipt_url": f"https://pay.stripe.com/receipts/payment/{random_string(rng, 48)}",
        "refunded": refunded_amount == amount and refunded_amount > 0,
        "refunds": list_object([], f"/v1/charges/{id}/refunds"),
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": status,
        "transfer_data": None,
        "transfer_group": None,
        "source": None,
    }


def build_charge(
    rng: random.Random, *, id: str, created: int, customer: str | None, payment_intent: str | None, amount: int, currency: str
) -> dict:
    x = rng.random()
    status = "succeeded" if x < 0.9 else "failed" if x < 0.98 else "pending"
    return charge_object(
        rng, id=id, created=created, customer=customer, payment_intent=payment_intent, amount=amount, currency=currency, status=status
    )


def payment_intent_object(
    rng: random.Random,
    *,
    id: str,
    created: int,
    customer: str | None,
    amount: int,
    currency: str,
    status: str,
    latest_charge: str | None = None,
    payment_method: str | None = None,
    failure: tuple[str, str, str] | None = None,
    description: str | None = None,
    for_invoice: bool = False,
    receipt_email: str | None = None,
    now: int | None = None,
) -> dict:
    r = rng.random
    automatic = not for_invoice and r() < 0.7
    canceled_at = cancellation_reason = None
    if status == "canceled":
        canceled_at = created + rng.randint(60, 3 * DAY)
        if now is not None:
            canceled_at = max(created, min(canceled_at, now))
        cancellation_reason = rng.choice(("abandoned", "requested_by_customer", "duplicate", "automatic"))
    last_payment_error = None
    if failure is not None:
        code, decline_code, message = failure
        last_payment_error = {
            "charge": latest_charge,
            "code": code,
            "decline_code": decline_code,
            "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
            "message": message,
            "type": "card_error",
        }
    manual = status == "requires_capture"
    return {
        "amount": amount,
        "amount_capturable": amount if manual else 0,
        "amount_details": {"tip": {}},
        "amount_received": amount if status == "succeeded" else 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": {"enabled": True} if automatic else None,
        "canceled_at": canceled_at,
        "cancellation_reason": cancellation_reason,
        "capture_method": "manual" if manual else "automatic_async" if automatic else "automatic",
        "client_secret": f"{id}_secret_{random_string(rng, 25)}",
        "confirmation_method": "automatic",
        "created": created,
        "currency": currency,
        "customer": customer,
        "description": description,
        "id": id,
        "last_payment_error": last_payment_error,
        "latest_charge": latest_charge,
        "livemode": False,
        "metadata": metadata(rng, BILLING_META) if not for_invoice else {},
        "next_action": {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}
        if status == "requires_action"
        else None,
        "object": "payment_intent",
        "on_behalf_of": None,
        "payment_method": payment_method,
        "payment_method_configuration_details": {"id": PM_CONFIGURATION, "parent": None} if automatic else None,
        "payment_method_options": {
            "card": {"installments": None, "mandate_options": None, "network": None, "request_three_d_secure": "automatic"}
        },
        "payment_method_types": ["card", "link"] if automatic and r() < 0.5 else ["card"],
        "processing": {"type": "card"} if status == "processing" else None,
        "receipt_email": receipt_email,
        "review": None,
        "setup_future_usage": "off_session" if for_invoice else None,
        "shipping": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": status,
        "transfer_data": None,
        "transfer_group": None,
        "source": None,
        "excluded_payment_method_types": None,
        "customer_account": None,
        "managed_payments": {"enabled": False},
    }


def build_payment_intent(
    rng: random.Random, *, id: str, created: int, customer: str | None, amount: int, currency: str, invoice: str | None
) -> dict:
    # Alone, a payment intent has no charge to point at, so it is in one of the states before any attempt.
    x = rng.random()
    status = "requires_payment_method" if x < 0.5 else "requires_confirmation" if x < 0.65 else "requires_action" if x < 0.8 else "canceled"
    # The API no longer links payment intents to invoices (that moved to invoice payments), only describes them.
    description = "Payment for Invoice" if invoice else None
    return payment_intent_object(
        rng,
        id=id,
        created=created,
        customer=customer,
        amount=amount,
        currency=currency,
        status=status,
        description=description,
        for_invoice=invoice is not None,
    )
