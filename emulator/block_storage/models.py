"""Block Storage's state for one region: nothing is emulated yet (volumes and volume types
come with issue 11), so the region's state holds an empty placeholder for them."""

from __future__ import annotations


class BlockStorageState:
    """Volumes and volume types of one region (none yet)."""

    def __init__(self, region: str) -> None:
        self.region = region
