"""The build's route filter: a Bloom filter over the keys of every seedable route, shipped
inside the Worker's code with the build identity, so a path the build did not prerender
costs no asset fetch at all, in all but a small share of cases.

`might_contain` never answers False for a listed route (no false negatives); for an
unlisted one it answers True with probability about FALSE_POSITIVE_RATE, and the pack
fetched then settles it (its header is the exact list). Positions come from the route's
sha256 (`seeding.seed.packs.RouteDigest`) by double hashing, so a lookup hashes the key once.
At FALSE_POSITIVE_RATE the filter costs about 11 bits a route: ~135 KiB for 100,000
routes, held as one `bytes` object.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

from seeding.seed.packs import RouteDigest

# Half of the 1% the Worker must stay under, so the measured share has room.
FALSE_POSITIVE_RATE = 0.005


def size_for(routes: int, rate: float = FALSE_POSITIVE_RATE) -> tuple[int, int]:
    """(bits, hashes) of a filter of `routes` keys at false-positive `rate`."""
    n = max(1, routes)
    bits = max(64, math.ceil(-n * math.log(rate) / math.log(2) ** 2))
    hashes = max(1, round(bits / n * math.log(2)))
    return bits, hashes


def positions(digest: RouteDigest, bits: int, hashes: int) -> Iterator[int]:
    raw = digest.digest
    h1 = int.from_bytes(raw[8:16], "big")
    h2 = int.from_bytes(raw[16:24], "big") | 1
    for i in range(hashes):
        yield (h1 + i * h2) % bits


class RouteFilter:
    def __init__(self, data: bytes, bits: int, hashes: int) -> None:
        if bits < 1 or hashes < 1 or len(data) * 8 < bits:
            raise ValueError(f"a filter of {bits} bits and {hashes} hashes needs more data")
        self.data = data
        self.bits = bits
        self.hashes = hashes

    @classmethod
    def of(
        cls, routes: Iterable[str], count: int, rate: float = FALSE_POSITIVE_RATE
    ) -> RouteFilter:
        """A filter holding `routes` (`count` of them), sized for `rate`."""
        bits, hashes = size_for(count, rate)
        data = bytearray((bits + 7) // 8)
        for route in routes:
            for position in positions(RouteDigest.of(route), bits, hashes):
                data[position >> 3] |= 1 << (position & 7)
        return cls(bytes(data), bits, hashes)

    def might_contain(self, digest: RouteDigest) -> bool:
        data = self.data
        return all(
            data[position >> 3] & (1 << (position & 7))
            for position in positions(digest, self.bits, self.hashes)
        )
