"""Snowflake's key-pair and token sign-in: the secrets come from settings (SNOWFLAKE_PRIVATE_KEY,
SNOWFLAKE_PRIVATE_KEY_PASSPHRASE, SNOWFLAKE_TOKEN, or the resource's fields), reach the real
connector, and never appear in what the sync prints. fakesnow accepts any signature, so a
correct key proves the connector took it and signed in; a wrong passphrase fails in the
connector before any request, which proves the key and passphrase reached it."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from stripe_pipeline.models import StripeCustomer
from stripe_pipeline.warehouse import Warehouse, WarehouseError

PASSPHRASE = "correct horse battery staple"


@pytest.fixture(scope="module")
def private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption = serialization.BestAvailableEncryption(PASSPHRASE.encode())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption).decode()


def _url(snowflake_url: str, authenticator: str) -> str:
    # Without the password: the key or the token signs in.
    return snowflake_url.replace("fake:snow@", "fake@") + f"&authenticator={authenticator}"


def test_a_key_pair_signs_in_and_a_wrong_passphrase_fails_in_one_line(snowflake_url, private_key, monkeypatch, tmp_path):
    monkeypatch.setenv("STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setenv("SNOWFLAKE_PRIVATE_KEY", private_key)
    monkeypatch.setenv("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE", PASSPHRASE)
    warehouse = Warehouse(_url(snowflake_url, "SNOWFLAKE_JWT"), "stripe")
    try:
        assert warehouse.count(StripeCustomer.__table__) == 0
    finally:
        warehouse.close()

    monkeypatch.setenv("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE", "not the passphrase")
    warehouse = Warehouse(_url(snowflake_url, "SNOWFLAKE_JWT"), "stripe")
    try:
        with pytest.raises(WarehouseError) as refused:
            warehouse.count(StripeCustomer.__table__)
    finally:
        warehouse.close()
    message = str(refused.value)
    assert "\n" not in message and "not the passphrase" not in message and "PRIVATE KEY" not in message, message


def test_a_token_from_the_dagster_resource_signs_in_and_is_not_printed(snowflake_url, monkeypatch, tmp_path):
    import dagster as dg

    from stripe_pipeline.dagster_defs.resources import WarehouseResource

    monkeypatch.setenv("STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.setenv("SNOWFLAKE_TOKEN_FOR_TEST", "token-that-must-not-show")
    resource = WarehouseResource(
        url=_url(snowflake_url, "oauth"), schema_name="stripe", snowflake_token=dg.EnvVar("SNOWFLAKE_TOKEN_FOR_TEST")
    )
    with resource.process_config_and_initialize_cm() as initialized:  # as Dagster does for a run: EnvVar read
        settings = initialized.settings()
        warehouse = initialized.warehouse()
        assert warehouse.count(StripeCustomer.__table__) == 0
    assert settings.snowflake_token.get_secret_value() == "token-that-must-not-show"
    assert "token-that-must-not-show" not in repr(settings) + repr(warehouse) + str(settings)


def test_an_oauth_sign_in_without_a_token_is_refused_by_the_connector(snowflake_url, monkeypatch, tmp_path):
    """The other side of the test above: with no token the same URL does not sign in, so the
    token given there is what did."""
    monkeypatch.setenv("STATE_URL", f"sqlite:///{tmp_path / 'state.db'}")
    monkeypatch.delenv("SNOWFLAKE_TOKEN", raising=False)
    warehouse = Warehouse(_url(snowflake_url, "oauth"), "stripe")
    try:
        with pytest.raises(WarehouseError):
            warehouse.count(StripeCustomer.__table__)
    finally:
        warehouse.close()
