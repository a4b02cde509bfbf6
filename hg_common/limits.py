"""`--add-limits initial,add,factor,max`: index only a growing chunk of new files per run.

Exactly HomeGallery's rule, so a first import of 100k files shows the first photos within a
minute and then grows: with an empty index the limit is `initial`; otherwise
`min(max, max(add, floor(count * (factor - 1))))` where `count` is the number of entries already
in the index. Missing or empty parts take the defaults 200, 500, 1.25, 8000.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hg_common.errors import ConfigError

DEFAULT_ADD_LIMITS = "200,500,1.25,8000"


@dataclass(frozen=True)
class AddLimits:
    initial: int = 200
    add: int = 500
    factor: float = 1.25
    max: int = 8000

    def limit(self, count: int) -> int:
        """How many new files this run may add to an index that holds `count` entries."""
        if count <= 0:
            return self.initial
        return min(self.max, max(self.add, math.floor(count * (self.factor - 1))))


def parse_add_limits(text: str) -> AddLimits:
    defaults = AddLimits()
    parts = [p.strip() for p in text.split(",")] if text.strip() else []
    if len(parts) > 4:
        raise ConfigError(f"invalid add limits {text!r}: expected initial,add,factor,max")
    try:
        initial = int(parts[0]) if len(parts) > 0 and parts[0] else defaults.initial
        add = int(parts[1]) if len(parts) > 1 and parts[1] else defaults.add
        factor = float(parts[2]) if len(parts) > 2 and parts[2] else defaults.factor
        maximum = int(parts[3]) if len(parts) > 3 and parts[3] else defaults.max
    except ValueError:
        raise ConfigError(
            f"invalid add limits {text!r}: expected numbers like {DEFAULT_ADD_LIMITS}"
        ) from None
    if initial < 1 or add < 1 or maximum < 1 or factor < 1:
        raise ConfigError(f"invalid add limits {text!r}: counts must be >= 1 and the factor >= 1")
    return AddLimits(initial, add, factor, maximum)
