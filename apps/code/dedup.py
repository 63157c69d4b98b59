"""Exact and near-duplicate detection for corpus files.

Exact: SHA-256 of the text with line endings and trailing whitespace normalised.
Near: MinHash over sets of token 5-grams with locality-sensitive hashing (Broder 1997;
the recipe of Lee et al. 2022 and The Stack), via ``datasketch``; an LSH candidate
counts only when its estimated Jaccard similarity reaches the threshold.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass

from datasketch import LeanMinHash, MinHash, MinHashLSH

_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class DedupConfig:
    """How alike two files must be to count as one."""

    threshold: float = 0.85  # estimated Jaccard similarity of shingle sets
    num_perm: int = 128
    shingle: int = 5  # tokens per shingle


def exact_key(text: str) -> str:
    """A hash equal for texts that differ only in line endings, trailing spaces or surrounding blank lines."""
    lines = [line.rstrip() for line in text.splitlines()]
    return hashlib.sha256("\n".join(lines).strip("\n").encode("utf-8")).hexdigest()


def minhash(text: str, config: DedupConfig) -> LeanMinHash:
    """MinHash signature of the text's set of token shingles."""
    tokens = _TOKEN.findall(text)
    n = config.shingle
    shingles = {" ".join(tokens[i : i + n]).encode("utf-8") for i in range(max(1, len(tokens) - n + 1))}
    # crc32 is a fast 32-bit base hash; datasketch mixes it (fmix) before its permutations.
    signature = MinHash(num_perm=config.num_perm, hashfunc=zlib.crc32)
    signature.update_batch(shingles)
    return LeanMinHash(signature)


class NearDuplicates:
    """Files kept so far, queried before each new one is admitted."""

    def __init__(self, config: DedupConfig):
        self.config = config
        self.lsh = MinHashLSH(threshold=config.threshold, num_perm=config.num_perm)
        self.signatures: dict[str, LeanMinHash] = {}

    def admit(self, key: str, signature: LeanMinHash) -> str | None:
        """Keep ``key`` and return None, or return the key of an already kept near-duplicate."""
        similar = [(signature.jaccard(self.signatures[other]), other) for other in self.lsh.query(signature)]
        similar = [pair for pair in similar if pair[0] >= self.config.threshold]
        if similar:
            return max(similar)[1]  # the most similar; ties broken by key, so runs agree
        self.lsh.insert(key, signature)
        self.signatures[key] = signature
        return None
