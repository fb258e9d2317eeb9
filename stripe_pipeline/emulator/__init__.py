"""The emulator's former name, kept for users' code and scripts: it is `stripe_emulator` now."""

from stripe_emulator import DEFAULT_API_KEY, Emulator

__all__ = ["DEFAULT_API_KEY", "Emulator"]
