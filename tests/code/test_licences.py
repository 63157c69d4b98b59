from email.message import Message

import pytest

from apps.code.licences import classify


def _metadata(**fields) -> Message:
    message = Message()
    for key, value in fields.items():
        for item in value if isinstance(value, list) else [value]:
            message[key.replace("_", "-")] = item
    return message


@pytest.mark.parametrize(
    "fields, permissive",
    [
        ({"License_Expression": "MIT"}, True),
        ({"License_Expression": "Apache-2.0 WITH LLVM-exception AND BSD-3-Clause"}, True),
        ({"License_Expression": "MIT OR GPL-3.0-only"}, True),  # a choice: we take the permissive one
        ({"License_Expression": "MIT AND GPL-3.0-only"}, False),
        ({"License_Expression": "LicenseRef-Proprietary"}, False),
        ({"License": "Apache 2.0"}, True),
        ({"License": "Modified BSD License"}, True),
        ({"License": "MPL-2.0 AND MIT"}, False),
        ({"License": "GPL-3.0-or-later"}, False),
        (
            {
                "Classifier": [
                    "License :: OSI Approved :: BSD License",
                    "License :: OSI Approved :: Apache Software License",
                ]
            },
            True,
        ),
        (
            {
                "Classifier": [
                    "License :: OSI Approved :: BSD License",
                    "License :: OSI Approved :: GNU General Public License (GPL)",
                ]
            },
            False,
        ),
        (
            {"License": "Copyright (c) 2001 Somebody. " * 20, "Classifier": "License :: OSI Approved :: MIT License"},
            True,
        ),
        ({"License": "MIT", "Classifier": "License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)"}, False),
        ({"License": "UNKNOWN"}, False),
        ({}, False),
    ],
)
def test_only_permissive_licences_pass(fields, permissive):
    assert classify(_metadata(**fields)).permissive is permissive


def test_expression_outranks_other_fields():
    verdict = classify(
        _metadata(License_Expression="MIT", Classifier="License :: OSI Approved :: GNU General Public License (GPL)")
    )
    assert (verdict.name, verdict.permissive, verdict.evidence) == ("MIT", True, "License-Expression")
