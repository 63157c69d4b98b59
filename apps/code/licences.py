"""Is a distribution's licence permissive? Read from its metadata, conservatively.

Order of evidence (PEP 639): ``License-Expression`` (SPDX) decides alone when present.
Otherwise the free-text ``License`` field (when it reads as SPDX or a common alias) and
the ``License ::`` classifiers must all agree on permissive. Anything unrecognised,
copyleft (GPL, LGPL, MPL, ...) or missing is kept out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

PERMISSIVE_SPDX = frozenset(
    {
        "0BSD",
        "Apache-2.0",
        "BlueOak-1.0.0",
        "BSD",
        "BSD-2-Clause",
        "BSD-3-Clause",
        "BSD-3-Clause-Clear",
        "BSL-1.0",
        "CC0-1.0",
        "CNRI-Python",
        "HPND",
        "ISC",
        "MIT",
        "MIT-0",
        "NCSA",
        "PSF-2.0",
        "Public-Domain",
        "Python-2.0",
        "Python-2.0.1",
        "Unlicense",
        "UPL-1.0",
        "X11",
        "Zlib",
    }
)  # "BSD" and "Public-Domain" are not SPDX ids: they name free-text fields ("BSD", "public domain")
COPYLEFT_PREFIXES = ("AGPL", "GPL", "LGPL", "MPL", "EPL", "EUPL", "CDDL", "OSL", "CECILL", "CC-BY-SA")

# Free-text ``License`` values seen on PyPI, lower-cased with "license"/"licence" and punctuation removed.
ALIASES = {
    "mit": "MIT",
    "mit0": "MIT-0",
    "expat": "MIT",
    "bsd": "BSD",
    "new bsd": "BSD-3-Clause",
    "modified bsd": "BSD-3-Clause",
    "3clause bsd": "BSD-3-Clause",
    "bsd 3clause": "BSD-3-Clause",
    "bsd3": "BSD-3-Clause",
    "simplified bsd": "BSD-2-Clause",
    "2clause bsd": "BSD-2-Clause",
    "bsd 2clause": "BSD-2-Clause",
    "bsd2": "BSD-2-Clause",
    "apache": "Apache-2.0",
    "apache 20": "Apache-2.0",
    "apache2": "Apache-2.0",
    "apache v2": "Apache-2.0",
    "apache version 20": "Apache-2.0",
    "apache software": "Apache-2.0",
    "asl 2": "Apache-2.0",
    "asl 20": "Apache-2.0",
    "apache software 20": "Apache-2.0",
    "psf": "PSF-2.0",
    "python software foundation": "PSF-2.0",
    "psfl": "PSF-2.0",
    "isc": "ISC",
    "iscl": "ISC",
    "unlicense": "Unlicense",
    "the unlicense": "Unlicense",
    "zlib": "Zlib",
    "zlib libpng": "Zlib",
    "public domain": "Public-Domain",
    "cc0": "CC0-1.0",
    "boost software": "BSL-1.0",
    "boost software 10": "BSL-1.0",
}
# Last part of "License :: OSI Approved :: <name>" (or "License :: <name>") -> SPDX-like id.
CLASSIFIERS = {
    "MIT License": "MIT",
    "MIT No Attribution License (MIT-0)": "MIT-0",
    "BSD License": "BSD",
    "Apache Software License": "Apache-2.0",
    "Python Software Foundation License": "PSF-2.0",
    "ISC License (ISCL)": "ISC",
    "The Unlicense (Unlicense)": "Unlicense",
    "zlib/libpng License": "Zlib",
    "Boost Software License 1.0 (BSL-1.0)": "BSL-1.0",
    "Public Domain": "Public-Domain",
    "Universal Permissive License (UPL)": "UPL-1.0",
    "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
    "Historical Permission Notice and Disclaimer (HPND)": "HPND",
    "0BSD": "0BSD",
}
_SPDX_TOKEN = re.compile(r"\(|\)|[A-Za-z0-9.+\-:]+")
_SPDX_ID = re.compile(r"^(LicenseRef-[A-Za-z0-9.\-]+|[A-Za-z0-9][A-Za-z0-9.\-]*\+?)$")
_KNOWN_IDS = {i.lower(): i for i in PERMISSIVE_SPDX}


@dataclass(frozen=True)
class Licence:
    """A verdict: the licence as we name it, whether we may train on it, and what it rests on."""

    name: str
    permissive: bool
    evidence: str


def is_permissive_id(spdx_id: str) -> bool:
    return spdx_id.rstrip("+") in PERMISSIVE_SPDX


class _Expression:
    """Recursive-descent reader of SPDX expressions: ``a OR (b AND c WITH exception)``."""

    def __init__(self, text: str, known_only: bool):
        self.tokens = _SPDX_TOKEN.findall(text)
        self.pos = 0
        self.known_only = known_only  # free text: every id must be one we know, else it is not SPDX

    def read(self) -> bool:
        value = self._or()
        if self.pos != len(self.tokens):
            raise ValueError("trailing tokens")
        return value

    def _next(self) -> str:
        if self.pos >= len(self.tokens):
            raise ValueError("unexpected end")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def _peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def _or(self) -> bool:
        values = [self._and()]
        while self._peek() in ("OR", "or"):
            self._next()
            values.append(self._and())
        return any(values)

    def _and(self) -> bool:
        values = [self._atom()]
        while self._peek() in ("AND", "and"):
            self._next()
            values.append(self._atom())
        return all(values)

    def _atom(self) -> bool:
        token = self._next()
        if token == "(":
            value = self._or()
            if self._next() != ")":
                raise ValueError("unbalanced parenthesis")
            return value
        if token in (")", "AND", "OR", "WITH") or not _SPDX_ID.match(token):
            raise ValueError(f"not an SPDX id: {token}")
        canonical = _KNOWN_IDS.get(token.rstrip("+").lower())
        known_copyleft = token.upper().startswith(COPYLEFT_PREFIXES)
        if self.known_only and canonical is None and not known_copyleft:
            raise ValueError(f"unknown id: {token}")
        if self._peek() in ("WITH", "with"):  # an exception only ever widens the grant
            self._next()
            self._next()
        return canonical is not None


def read_spdx(text: str, known_only: bool = False) -> bool | None:
    """Permissive (True) or not (False); None when the text is not an SPDX expression."""
    try:
        return _Expression(text, known_only).read()
    except ValueError:
        return None


def _alias(text: str) -> str | None:
    key = re.sub(r"\b(the|licen[cs]e[sd]?|version|v)\b", " ", text.lower())
    key = re.sub(r"[^a-z0-9 ]", "", key)
    key = " ".join(key.split())
    return ALIASES.get(key) or ALIASES.get(key.replace(" ", ""))


def _from_classifier(classifier: str) -> str:
    name = classifier.split("::")[-1].strip()
    return CLASSIFIERS.get(name, name)


def classify(metadata: Message) -> Licence:
    """The licence verdict for one distribution's core metadata."""
    expression = (metadata.get("License-Expression") or "").strip()
    if expression:
        verdict = read_spdx(expression)
        return Licence(expression, bool(verdict), "License-Expression")

    evidence: list[tuple[str, bool]] = []
    free_text = " ".join((metadata.get("License") or "").split())
    if free_text and len(free_text) <= 200:  # longer values are pasted licence texts: leave them to classifiers
        verdict = read_spdx(free_text, known_only=True)
        if verdict is not None:
            evidence.append((free_text, verdict))
        elif (alias := _alias(free_text)) is not None:
            evidence.append((alias, is_permissive_id(alias)))
    for classifier in metadata.get_all("Classifier") or []:
        if classifier.startswith("License ::") and classifier != "License :: OSI Approved":
            spdx = _from_classifier(classifier)
            evidence.append((spdx, is_permissive_id(spdx)))

    if not evidence:
        return Licence(free_text[:60] or "unknown", False, "no recognisable licence")
    names = "; ".join(dict.fromkeys(name for name, _ in evidence))
    return Licence(names, all(ok for _, ok in evidence), "License field and classifiers")
