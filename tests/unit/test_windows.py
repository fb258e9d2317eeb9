"""How `created` windows are cut (stripe_api/windows.py): covering, never overlapping."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from stripe_pipeline.stripe_api.windows import Window, initial_windows, split

EPOCH = 1_767_225_600  # 2026-01-01, the emulator's start


@given(gte=st.integers(0, 10**9), span=st.integers(1, 10**6), parts=st.integers(1, 50))
def test_split_windows_cover_the_window_without_overlap(gte, span, parts):
    window = Window(gte, gte + span - 1)
    pieces = split(window, parts)
    assert pieces[0].lte == window.lte and pieces[-1].gte == window.gte
    assert all(newer.gte == older.lte + 1 for newer, older in zip(pieces, pieces[1:]))
    assert len(pieces) == min(parts, span) and all(piece.span() >= 1 for piece in pieces)


def test_the_initial_windows_start_at_zero_and_end_at_the_backfill_start():
    windows = initial_windows(EPOCH)
    assert windows[0].gte == 0 and windows[-1].lte == EPOCH
    assert all(newer.gte == older.lte + 1 for older, newer in zip(windows, windows[1:]))
