"""When an account's objects were created: the shapes of `created` the emulator can seed.

Real accounts are not even. A migration imports a burst years ago, a dormant account stopped
creating, a launch crowds the last hour, a rarely created type (coupons, tax rates) has a
handful of objects from long ago. A backfill tuned on even data can be slow on all of these
(issue 9), so tests and benchmarks seed them too.

A timeline is a mix of uniform spans. The generator places object i of n at the quantile
`(i + u) / n` of the mix (u uniform in [0, 1)), so times come out ascending, spread as the mix
says, and stay deterministic for a seed.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass

HOUR = 3_600
DAY = 86_400
YEAR = 365 * DAY


@dataclass(frozen=True)
class Span:
    """`weight` of the objects created uniformly in the `length` seconds that start `ago`
    seconds before now. A span of one second is a tie: all its objects share `created`."""

    weight: float
    ago: int
    length: int


@dataclass(frozen=True)
class Timeline:
    spans: tuple[Span, ...]

    def quantile(self, now: int) -> Callable[[float], int]:
        """The `created` below which a share `q` of the objects falls, for q in [0, 1)."""
        bounds = sorted({now - s.ago for s in self.spans} | {now - s.ago + s.length for s in self.spans})
        total = sum(s.weight for s in self.spans)
        densities = []  # objects per second (as a share of all) between consecutive bounds
        for low, high in zip(bounds, bounds[1:]):
            densities.append(sum(s.weight / s.length for s in self.spans if now - s.ago <= low and high <= now - s.ago + s.length) / total)
        cumulative = [0.0]
        for (low, high), density in zip(zip(bounds, bounds[1:]), densities):
            cumulative.append(cumulative[-1] + density * (high - low))

        def created(q: float) -> int:
            k = min(max(bisect.bisect_right(cumulative, q) - 1, 0), len(densities) - 1)
            while densities[k] == 0:  # a gap between spans holds no objects
                k += 1
            return min(int(bounds[k] + (q - cumulative[k]) / densities[k]), bounds[k + 1] - 1)

        return created

    def earliest(self, now: int) -> int:
        return min(now - s.ago for s in self.spans)


def _bursts(count: int, years: int) -> tuple[Span, ...]:
    gap = (years * YEAR - DAY) // (count - 1)
    return tuple(Span(1 / count, years * YEAR - k * gap, DAY) for k in range(count))


TIMELINES: dict[str, Timeline] = {
    # The year up to now, evenly: a young account that creates at a steady pace.
    "even": Timeline((Span(1, YEAR, YEAR),)),
    # Everything in five days, six years ago: an import after a migration to Stripe.
    "burst-past": Timeline((Span(1, 6 * YEAR, 5 * DAY),)),
    # Five days of a year apart over four years, nothing between: yearly campaigns, batch imports.
    "bursts": Timeline(_bursts(5, 4)),
    # Three years of steady creation, then two years of nothing.
    "dormant": Timeline((Span(1, 5 * YEAR, 3 * YEAR),)),
    # 30 % of the objects in five seconds (scripted bulk creates), the rest over the year.
    "ties": Timeline((Span(0.7, YEAR, YEAR), *(Span(0.06, int(YEAR * f), 1) for f in (0.9, 0.7, 0.5, 0.3, 0.1)))),
    # 90 % in the last hour (a launch), 10 % over the year before.
    "recent-burst": Timeline((Span(0.1, YEAR, YEAR - HOUR), Span(0.9, HOUR, HOUR))),
    # An hour a week for a year, nothing between: a weekly batch job. Not one of issue 9's
    # shapes: added after it showed a walk spilling empty windows past every burst's start.
    "weekly-bursts": Timeline(tuple(Span(1, k * 7 * DAY + HOUR, HOUR) for k in range(1, 53))),
}


def timeline(name_or_timeline: str | Timeline) -> Timeline:
    if isinstance(name_or_timeline, Timeline):
        return name_or_timeline
    try:
        return TIMELINES[name_or_timeline]
    except KeyError:
        raise ValueError(f"unknown timeline {name_or_timeline!r}; known: {', '.join(TIMELINES)}") from None
