"""Gene Ontology terms as control tokens: the GO graph, propagation to ancestors, and the term vocabulary.

The protein corpus keeps each Swiss-Prot record's GO terms as annotated. A protein annotated with a term
also has every ancestor of it (the "true path rule"), so annotations are propagated up the graph along
``is_a`` and ``part_of`` edges (as the GO Consortium propagates them; ``regulates`` edges are not followed)
before terms are counted. The graph and the term names are those shipped beside the corpus in Debian's
``metastudent-data`` (GO of January 2014: ``goGraph.txt``, ``nameMapping.txt``).

The vocabulary keeps the terms that at least ``min_count`` training proteins carry after propagation, less
the three namespace roots (every protein has them). Term ``i`` of the vocabulary is token
``first_token + i`` of the generator, after the 33 ids of the ESM alphabet. The vocabulary is written as
``go_terms.json`` beside the model it was trained with.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

GO_DIR = Path("/usr/share/metastudent-data/dataset_201401")
"""Where ``goGraph.txt`` and ``nameMapping.txt`` are (Debian ``metastudent-data``); $DLM_GO_DIR overrides it."""
VOCABULARY_FILE = "go_terms.json"
PROPAGATED = ("is_a", "part_of")
ROOTS = {"GO:0008150": "biological_process", "GO:0003674": "molecular_function", "GO:0005575": "cellular_component"}
GO_ID = re.compile(r"^GO:\d{7}$")
CONTROL_SLOTS = 8
"""Control positions before ``<cls>``: the terms of a design (in vocabulary order), then empty slots."""


class TermError(ValueError):
    """A GO term that is malformed, unknown or outside the model's vocabulary; the message names near ones."""


class GoGraph:
    """Parents (``is_a`` and ``part_of``) and names of every GO term."""

    def __init__(self, parents: dict[str, set[str]], names: dict[str, str]):
        self.parents = parents
        self.names = names
        self._ancestors: dict[str, frozenset[str]] = {}

    @classmethod
    def load(cls, folder: str | Path | None = None) -> GoGraph:
        folder = Path(folder or os.environ.get("DLM_GO_DIR") or GO_DIR)
        graph_file, names_file = folder / "goGraph.txt", folder / "nameMapping.txt"
        for path in (graph_file, names_file):
            if not path.is_file():
                raise FileNotFoundError(
                    f"{path} not found: the GO graph ships in Debian's metastudent-data package "
                    "(apt-get install metastudent-data), or set $DLM_GO_DIR to a folder with goGraph.txt and nameMapping.txt"
                )
        parents: dict[str, set[str]] = {}
        with open(graph_file, encoding="utf-8") as handle:
            for line in handle:
                fields = line.rstrip("\n").split("\t")
                if len(fields) < 4 or fields[3] not in PROPAGATED:
                    continue
                parent, child = fields[0], fields[1]  # "GO:0048308  GO:0000001  1  is_a": the child is_a the parent
                if GO_ID.match(parent) and GO_ID.match(child):
                    parents.setdefault(child, set()).add(parent)
        names = {}
        with open(names_file, encoding="utf-8") as handle:
            for line in handle:
                term, _, name = line.rstrip("\n").partition("\t")
                if GO_ID.match(term):
                    names[term] = name
        return cls(parents, names)

    def ancestors(self, term: str) -> frozenset[str]:
        """The term and every term above it."""
        found = self._ancestors.get(term)
        if found is None:
            found = frozenset({term}).union(*(self.ancestors(p) for p in self.parents.get(term, ())))
            self._ancestors[term] = found
        return found

    def propagate(self, terms: Iterable[str]) -> frozenset[str]:
        return frozenset().union(*(self.ancestors(t) for t in terms))

    def namespace(self, term: str) -> str:
        for root, name in ROOTS.items():
            if root in self.ancestors(term):
                return name
        return "unknown"


@dataclass(frozen=True)
class Term:
    id: str  # "GO:0003677"
    name: str  # "DNA binding"
    namespace: str  # molecular_function, biological_process or cellular_component
    count: int  # training proteins carrying it after propagation


class TermVocabulary:
    """The GO terms a generator was trained to condition on; term i is token ``first_token + i``. A canvas of
    such a generator starts with ``slots`` control positions (see ``control_prefix``)."""

    def __init__(self, terms: Sequence[Term], first_token: int, min_count: int, source: str = "", slots: int = CONTROL_SLOTS):
        self.terms = tuple(terms)
        self.first_token = first_token
        self.min_count = min_count
        self.source = source
        self.slots = slots
        self.index = {t.id: i for i, t in enumerate(self.terms)}

    def __len__(self) -> int:
        return len(self.terms)

    def __contains__(self, term: str) -> bool:
        return term in self.index

    def token(self, term: str) -> int:
        return self.first_token + self.check(term)

    def term(self, term: str) -> Term:
        return self.terms[self.check(term)]

    def check(self, term: str) -> int:
        """The term's index; a TermError naming the nearest known terms if it is not in the vocabulary."""
        if term in self.index:
            return self.index[term]
        if not isinstance(term, str) or not GO_ID.match(term):
            near = self.search(str(term), limit=5)
            hint = f"; terms whose names match: {_listing(near)}" if near else ""
            raise TermError(f"{term!r} is not a GO id (GO: and seven digits, e.g. GO:0003677){hint}")
        graph = _graph_if_shipped()
        if graph is not None and term in graph.names:
            above = sorted((t for t in self.terms if t.id in graph.ancestors(term)), key=lambda t: (t.count, t.id))
            raise TermError(
                f"{term} ({graph.names[term]}) is outside this model's vocabulary of {len(self)} GO terms (those with "
                f"at least {self.min_count} training proteins); its most specific ancestors in it: {_listing(above[:5])}. "
                "Look terms up with `dlm-protein terms QUERY`."
            )
        near = self.nearest_ids(term)
        raise TermError(
            f"{term} is not a known GO term, nor in this model's vocabulary of {len(self)} GO terms (those with at least "
            f"{self.min_count} training proteins); nearest known ids: {_listing(near)}. "
            "Look terms up with `dlm-protein terms QUERY`."
        )

    def nearest_ids(self, term: str, limit: int = 5) -> list[Term]:
        """Known terms whose ids are numerically closest (GO ids carry no meaning, but a typo stays close)."""
        number = int(term[3:])
        return sorted(self.terms, key=lambda t: (abs(int(t.id[3:]) - number), t.id))[:limit]

    def search(self, query: str, limit: int = 20) -> list[Term]:
        """Terms by id, by words of their name (all must occur), or else by the closest names."""
        query = query.strip()
        if not query:
            return list(self.terms[:limit])
        if query.upper().startswith("GO:"):
            return [t for t in self.terms if t.id.startswith(query.upper())][:limit]
        words = query.lower().split()
        hits = [t for t in self.terms if all(w in t.name.lower() for w in words)]
        if hits:
            return sorted(hits, key=lambda t: (len(t.name), -t.count))[:limit]
        names = {t.name.lower(): t for t in self.terms}
        return [names[n] for n in difflib.get_close_matches(query.lower(), list(names), n=limit, cutoff=0.6)]

    def to_dict(self) -> dict:
        return {
            "first_token": self.first_token,
            "slots": self.slots,
            "min_count": self.min_count,
            "source": self.source,
            "terms": [asdict(t) for t in self.terms],
        }

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / VOCABULARY_FILE
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, folder: str | Path) -> "TermVocabulary":
        path = Path(folder) / VOCABULARY_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: {folder} is not a GO-conditioned generator")
        data = json.loads(path.read_text())
        terms = [Term(**t) for t in data["terms"]]
        return cls(terms, data["first_token"], data["min_count"], data.get("source", ""), data.get("slots", CONTROL_SLOTS))

    def prefix(self, terms: Sequence[str], pad_id: int) -> tuple[list[int], list[bool]]:
        """The control positions for ``terms`` (checked, deduplicated, at most ``slots``): ids and which
        positions are attended (empty slots hold ``pad_id`` and are not)."""
        if len(set(terms)) > self.slots:
            raise TermError(f"at most {self.slots} GO terms per design, got {len(set(terms))}")
        indices = sorted({self.check(t) for t in terms})
        return control_prefix([self.first_token + i for i in indices], self.slots, pad_id)


def control_prefix(tokens: Sequence[int], slots: int, pad_id: int) -> tuple[list[int], list[bool]]:
    """``slots`` control positions: ``tokens`` first, then empty slots (``pad_id``, not attended). With no
    tokens the model sees nothing there: the unconditional input."""
    if len(tokens) > slots:
        raise ValueError(f"{len(tokens)} control tokens do not fit in {slots} slots")
    empty = slots - len(tokens)
    return list(tokens) + [pad_id] * empty, [True] * len(tokens) + [False] * empty


def _listing(terms: Sequence[Term]) -> str:
    return ", ".join(f"{t.id} ({t.name})" for t in terms) or "none"


def term_counts(annotations: Iterable[Sequence[str]], graph: GoGraph) -> Counter:
    """Proteins per term after propagation."""
    counts: Counter = Counter()
    for terms in annotations:
        counts.update(graph.propagate(terms))
    return counts


def build_vocabulary(
    annotations: Iterable[Sequence[str]], graph: GoGraph, first_token: int, min_count: int = 500, source: str = ""
) -> TermVocabulary:
    """The terms that at least ``min_count`` proteins of ``annotations`` carry after propagation, roots excluded,
    most frequent first (ties by id)."""
    counts = term_counts(annotations, graph)
    kept = sorted((t for t, n in counts.items() if n >= min_count and t not in ROOTS), key=lambda t: (-counts[t], t))
    terms = [Term(t, graph.names.get(t, t), graph.namespace(t), counts[t]) for t in kept]
    if not terms:
        raise ValueError(f"no GO term is carried by {min_count} or more proteins: lower min_count")
    return TermVocabulary(terms, first_token, min_count, source)


def default_graph() -> GoGraph:
    """The graph in $DLM_GO_DIR, else in ``GO_DIR``; read once per folder."""
    return _graph(str(os.environ.get("DLM_GO_DIR") or GO_DIR))


@lru_cache(maxsize=4)
def _graph(folder: str) -> GoGraph:
    return GoGraph.load(folder)


def _graph_if_shipped() -> GoGraph | None:
    """The GO graph for error messages, if this machine has it."""
    try:
        return default_graph()
    except FileNotFoundError:
        return None
