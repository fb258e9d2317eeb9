"""`python -m stripe_pipeline.emulator`, the former name of `python -m stripe_emulator`."""

from stripe_emulator.__main__ import DEMO_COUNTS, main

__all__ = ["DEMO_COUNTS", "main"]

if __name__ == "__main__":
    main()
