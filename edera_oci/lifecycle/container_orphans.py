"""``list --orphans``: what zones of this ``--root`` left that no container owns.

A create killed before it recorded anything, a state directory removed by hand, a delete that
failed half-way: the zone's names derive from ``--root`` and the id, so the backend finds what
carries them with no state behind it, and ``delete --force ID`` removes it.
"""

from __future__ import annotations

from typing import Any

from edera_oci.lifecycle.common import Runtime


def find_orphans(rt: Runtime) -> list[dict[str, Any]]:
    """[{"id": ..., "leftovers": [...]}] for each id something was left for."""
    finder = getattr(rt.backend(), "orphans", None)
    if finder is None:
        return []
    return [{"id": cid, "leftovers": what} for cid, what in sorted(finder(rt.root).items())]
