"""A local Stripe API emulator for tests, the demo, benchmarks and offline hook development.

It speaks the real API's list, retrieve and error semantics over HTTP, so the same code
runs against it and against Stripe.
"""

from .server import DEFAULT_API_KEY, Emulator

__all__ = ["DEFAULT_API_KEY", "Emulator"]
