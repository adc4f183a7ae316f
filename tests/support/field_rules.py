"""The field rules as the AWS documentation states them, written out step by step for the tests.

These are deliberately NOT the production regular expressions (``backup_lambda.validation``): a
generator of "bad" input that filtered with the production rule could never notice that rule being
too weak (it once accepted ``a..b`` and ``192.168.1.1`` as bucket names). Each function answers
"is this a valid value?" from the rule's text; ``tests/security/test_bad_input.py`` checks that the
production validators agree with these on tables of hand-picked cases, and uses these to generate
values that must be refused.
"""

from __future__ import annotations

import string

LOWER = set(string.ascii_lowercase)
DIGITS = set(string.digits)
ALNUM = set(string.ascii_letters + string.digits)
HEX = set("0123456789abcdef")


def is_region(value: object) -> bool:
    """Two lower-case letters, one or more words of lower-case letters, a number of 1 or 2 digits, by '-'."""
    if not isinstance(value, str):
        return False
    parts = value.split("-")
    if len(parts) < 3:
        return False
    head, *middle, number = parts
    return (len(head) == 2 and set(head) <= LOWER and all(p and set(p) <= LOWER for p in middle)
            and 1 <= len(number) <= 2 and set(number) <= DIGITS)


def is_user_pool_id(value: object) -> bool:
    """``<region>_<letters and digits>``, at most 55 characters (the API's UserPoolIdType)."""
    if not isinstance(value, str) or len(value) > 55 or value.count("_") != 1:
        return False
    region, suffix = value.split("_")
    return is_region(region) and bool(suffix) and set(suffix) <= ALNUM


def is_pool_name(value: object) -> bool:
    """1-128 ASCII letters, digits or ``_ . + = , @ -`` (part of S3 keys and a CloudWatch dimension)."""
    return (isinstance(value, str) and 1 <= len(value) <= 128
            and all(c in ALNUM or c in "_.+=,@-" for c in value))


def is_bucket_name(value: object) -> bool:
    """Amazon S3's naming rules for general purpose buckets."""
    if not isinstance(value, str) or not 3 <= len(value) <= 63:
        return False
    if not all(c in LOWER or c in DIGITS or c in ".-" for c in value):
        return False
    if not (value[0] in LOWER | DIGITS and value[-1] in LOWER | DIGITS):
        return False
    if ".." in value:
        return False
    octets = value.split(".")
    if len(octets) == 4 and all(o.isdigit() and int(o) <= 255 for o in octets):
        return False  # formatted as an IP address
    if value.startswith(("xn--", "sthree-", "amzn-s3-demo-")):
        return False
    return not value.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"))


def is_prefix(value: object) -> bool:
    """Empty, or path segments (ASCII letters, digits, ``_ . = @ + -``), each non-empty and neither
    ``.`` nor ``..``; a missing trailing '/' is added; at most 512 characters."""
    if value == "":
        return True
    if not isinstance(value, str) or len(value) > 512:
        return False
    if not value.endswith("/"):
        value += "/"
    segments = value[:-1].split("/")
    return all(s and s not in (".", "..") and all(c in ALNUM or c in "_.=@+-" for c in s) for s in segments)


def is_kms_key(value: object) -> bool:
    """A key id (UUID), a multi-Region key id (``mrk-`` and 32 hex digits), an alias name
    (``alias/...``) or a key or alias ARN."""
    if not isinstance(value, str):
        return False
    name_chars = ALNUM | set("_/+=,.@-")
    if value.startswith("alias/"):
        return len(value) > len("alias/") and set(value) <= name_chars
    if value.startswith("mrk-"):
        return len(value) == 36 and set(value[4:]) <= HEX
    groups = value.split("-")
    if [len(g) for g in groups] == [8, 4, 4, 4, 12]:
        return all(set(g) <= HEX for g in groups)
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn" or not parts[1].startswith("aws") or parts[2] != "kms":
        return False
    region, account, resource = parts[3], parts[4], parts[5]
    kind, _, name = resource.partition("/")
    return (bool(region) and set(region) <= LOWER | DIGITS | {"-"} and len(account) == 12 and account.isdigit()
            and kind in ("key", "alias") and bool(name) and set(name) <= name_chars)


def is_attribute_name(value: object) -> bool:
    """1-64 ASCII letters, digits or ``_ : . -`` (``custom:tier``, ``phone_number``)."""
    return isinstance(value, str) and 1 <= len(value) <= 64 and all(c in ALNUM or c in "_:.-" for c in value)


def is_budget(value: object) -> bool:
    """A number of calls per second above 0 and at most 30 (Cognito's UserList quota)."""
    if isinstance(value, bool):
        return False
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return 0 < number <= 30
