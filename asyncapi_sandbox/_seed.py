"""The words the sandbox's seeded users and projects are made of, and their creation times."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Final

_SEED_EPOCH: Final = datetime(2024, 1, 1, tzinfo=timezone.utc)

FIRST_NAMES: Final = [
    "Alice",
    "Bob",
    "Carol",
    "Dave",
    "Erin",
    "Frank",
    "Grace",
    "Heidi",
    "Ivan",
    "Judy",
    "Mallory",
    "Niaj",
    "Olivia",
    "Peggy",
    "Rupert",
    "Sybil",
    "Trent",
    "Victor",
    "Walter",
    "Yara",
    "Zoe",
    "Amir",
    "Bea",
    "Chen",
    "Dara",
    "Emil",
    "Fatima",
    "Goran",
    "Hana",
    "Ines",
]
LAST_NAMES: Final = [
    "Smith",
    "Johnson",
    "Nguyen",
    "Garcia",
    "Müller",
    "Rossi",
    "Kim",
    "Okafor",
    "Dubois",
    "Silva",
    "Novak",
    "Tanaka",
    "Larsen",
    "Costa",
    "Haddad",
    "Ivanova",
    "Jensen",
    "Moreau",
    "Patel",
    "Quinn",
]
ADJECTIVES: Final = [
    "Apollo",
    "Borealis",
    "Cobalt",
    "Delta",
    "Ember",
    "Falcon",
    "Granite",
    "Harbor",
    "Indigo",
    "Juniper",
]
NOUNS: Final = [
    "Pipeline",
    "Gateway",
    "Dashboard",
    "Ledger",
    "Atlas",
    "Beacon",
    "Compass",
    "Forge",
    "Lattice",
    "Relay",
]


def seeded_time(index: int) -> datetime:
    """The creation time of the index-th seeded record: an hour apart from 2024-01-01."""
    return _SEED_EPOCH + timedelta(hours=index)
