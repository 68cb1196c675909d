"""The knobs of campaign detection, apart from the detection itself, so that the command
line can show their defaults without importing NumPy (``postcred score`` starts faster)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class CampaignParams:
    """The knobs of campaign detection, each an option of ``postcred campaigns``.

    Parameters
    ----------
    threshold:
        Jaccard similarity of two texts' character 3-gram sets at or above which they
        match.  0.6 finds 97% of planted copies with 1-5 edits each (two copies fall well
        below 0.8 against each other) and pulls in no organic post.
    min_chars:
        Texts shorter than this after normalization are left out.
    min_accounts:
        Distinct accounts a group needs to be a campaign.
    num_perm, bands:
        MinHash signature length and LSH bands (``num_perm // bands`` positions each).
    window:
        In an LSH bucket, each text is compared with up to this many texts after it.
    fast_seconds:
        Two accounts' posts this close in time are a "fast" pair.
    share_p_wire, share_url_share:
        A campaign with median p_wire and share of posts with a link at or above these is
        a ``share_template``.
    seed:
        Seed of the MinHash functions.
    chunk_size:
        Posts normalized and sketched together.
    """

    threshold: float = 0.6
    min_chars: int = 20
    min_accounts: int = 2
    num_perm: int = 128
    bands: int = 25
    window: int = 64
    fast_seconds: int = 60
    share_p_wire: float = 0.6
    share_url_share: float = 0.5
    seed: int = 1
    chunk_size: int = 5000

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        for name in ("min_chars", "min_accounts", "num_perm", "bands", "window", "chunk_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.min_chars < 3:
            raise ValueError(f"min_chars must be at least 3 (texts are compared by 3-grams), got {self.min_chars}")
        if self.bands > self.num_perm:
            raise ValueError(f"bands ({self.bands}) cannot exceed num_perm ({self.num_perm})")
        if self.fast_seconds < 0:
            raise ValueError(f"fast_seconds must be at least 0, got {self.fast_seconds}")

    def to_dict(self) -> dict:
        return asdict(self)
