"""A vocabulary of genre tags, to pick a song's primary genre out of free-form (Last.fm) tags.

Last.fm tags mix genres ("rock", "hip hop", "country") with everything else ("favorites",
"love", "80s", "male vocalists", radio station call signs). A reader that derives genres from
tags keeps only the tags listed here: a song's *primary genre* is its first tag (in the order
the data lists them) that belongs to the vocabulary.

The vocabulary holds broad genres and well-known sub-genres, written in lower case. It leaves
out decades ("80s", "oldies"), moods ("chill", "sad"), forms ("ballad", "cover"), instruments
("piano", "guitar"), languages and places ("british", "spanish"), and tags that only say
someone likes a song. Tags are compared after :func:`normalise_tag` (lower case, collapsed
spaces).

Spelling variants of the same genre ("hip-hop", "hip hop"; "rnb", "r&b", "r and b", "rhythm and
blues") are merged into one canonical name by :data:`GENRE_ALIASES`, so a genre label means
one genre. Aliases apply to the default vocabulary only; a user-supplied vocabulary (the ``genres``
option of the ``yes`` dataset) is used as given.
"""

from __future__ import annotations

from collections.abc import Iterable

#: Canonical genre names (lower case).
GENRES: tuple[str, ...] = (
    # rock
    "rock",
    "classic rock",
    "alternative",
    "alternative rock",
    "hard rock",
    "soft rock",
    "pop rock",
    "indie",
    "indie rock",
    "progressive rock",
    "psychedelic rock",
    "blues rock",
    "southern rock",
    "folk rock",
    "country rock",
    "glam rock",
    "arena rock",
    "garage rock",
    "post-rock",
    "grunge",
    "post-grunge",
    "britpop",
    "rock and roll",
    "rockabilly",
    "new wave",
    "post-punk",
    "shoegaze",
    "emo",
    "punk",
    "punk rock",
    "pop punk",
    "hardcore",
    "christian rock",
    # metal
    "metal",
    "heavy metal",
    "alternative metal",
    "nu metal",
    "thrash metal",
    "death metal",
    "black metal",
    "power metal",
    "metalcore",
    # pop
    "pop",
    "synthpop",
    "electropop",
    "dance pop",
    "teen pop",
    "k-pop",
    "j-pop",
    "adult contemporary",
    "easy listening",
    "disco",
    # hip hop, r&b, soul
    "hip hop",
    "rap",
    "gangsta rap",
    "trap",
    "r&b",
    "soul",
    "neo-soul",
    "old school soul",
    "motown",
    "funk",
    "urban",
    "slow jams",
    # electronic
    "electronic",
    "electronica",
    "dance",
    "house",
    "deep house",
    "techno",
    "trance",
    "drum and bass",
    "dubstep",
    "edm",
    "ambient",
    "downtempo",
    "trip-hop",
    "chillout",
    "lounge",
    "industrial",
    # country, folk
    "country",
    "classic country",
    "modern country",
    "new country",
    "alt-country",
    "bluegrass",
    "americana",
    "folk",
    "singer-songwriter",
    # jazz, blues
    "jazz",
    "smooth jazz",
    "vocal jazz",
    "swing",
    "bossa nova",
    "blues",
    # religious
    "gospel",
    "christian",
    "contemporary christian",
    "worship",
    # others
    "reggae",
    "ska",
    "dancehall",
    "latin",
    "salsa",
    "reggaeton",
    "world",
    "classical",
    "opera",
    "soundtrack",
    "new age",
    "experimental",
)

#: Spelling variants -> canonical name (keys and values lower case).
GENRE_ALIASES: dict[str, str] = {
    "hip-hop": "hip hop",
    "hiphop": "hip hop",
    "rnb": "r&b",
    "rb": "r&b",
    "r and b": "r&b",
    "r n b": "r&b",
    "rhythm and blues": "r&b",
    "rock n roll": "rock and roll",
    "rock 'n' roll": "rock and roll",
    "rock & roll": "rock and roll",
    "alt rock": "alternative rock",
    "alt-rock": "alternative rock",
    "pop-rock": "pop rock",
    "poprock": "pop rock",
    "alt country": "alt-country",
    "trip hop": "trip-hop",
    "drum n bass": "drum and bass",
    "dnb": "drum and bass",
    "electro pop": "electropop",
    "synth pop": "synthpop",
    "synth-pop": "synthpop",
    "nu-metal": "nu metal",
    "neo soul": "neo-soul",
    "post rock": "post-rock",
    "post grunge": "post-grunge",
    "post punk": "post-punk",
    "pop-punk": "pop punk",
    "chill out": "chillout",
    "singer songwriter": "singer-songwriter",
}


def normalise_tag(tag: str) -> str:
    """Lower case, surrounding spaces removed, inner runs of spaces collapsed."""
    return " ".join(str(tag).lower().split())


def genre_lookup(vocabulary: Iterable[str] | None = None) -> dict[str, str]:
    """Map each accepted (normalised) tag to the genre label it gives.

    With ``vocabulary=None`` the default :data:`GENRES` plus :data:`GENRE_ALIASES`; otherwise
    exactly the given tags, each its own label (normalised).
    """
    if vocabulary is None:
        lookup = {name: name for name in GENRES}
        lookup.update(GENRE_ALIASES)
        return lookup
    return {normalise_tag(name): normalise_tag(name) for name in vocabulary if str(name).strip()}


def genre_of_tag(tag: str, vocabulary: Iterable[str] | None = None) -> str | None:
    """The genre label a single tag gives, or None when it is not a genre tag."""
    return genre_lookup(vocabulary).get(normalise_tag(tag))
