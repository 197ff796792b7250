"""Personal data in text: e-mail addresses, phone numbers, IBANs, payment card numbers and
long runs of digits. One set of detectors: the grounding guard finds them in model text (an
address or number the docs don't have drops its sentence), the query log replaces them in
what readers type before anything is written.
"""

import re

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
PHONE = re.compile(r"(?<![\w.])\+?\(?\d[\d\s().-]{5,}\d(?![\w.]*\d)")
# Two letters, two check digits, then groups of four letters and digits (spaced or not), the
# last one shorter: 15 to 34 characters in all.
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?\b", re.IGNORECASE)
# 13 to 19 digits, in groups of spaces or dashes: a card number when its Luhn sum checks.
CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
LONG_DIGITS = re.compile(r"\d{7,}")


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in number if d.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _iban_valid(text: str) -> bool:
    """The IBAN check (ISO 13616): the rearranged number mod 97 is 1."""
    compact = re.sub(r"[ -]", "", text).upper()
    rearranged = compact[4:] + compact[:4]
    digits = "".join(str(int(c, 36)) for c in rearranged)
    return len(compact) >= 15 and int(digits) % 97 == 1


def redact(text: str) -> str:
    """`text` with personal data replaced: [email], [iban], [card], [phone], [number]."""
    text = EMAIL.sub("[email]", text)
    text = IBAN.sub(lambda m: "[iban]" if _iban_valid(m.group(0)) else m.group(0), text)
    text = CARD.sub(lambda m: "[card]" if luhn_valid(m.group(0)) else m.group(0), text)
    # A number written as one run of digits is a [number]; with +, spaces or dots, a [phone].
    text = PHONE.sub(lambda m: "[number]" if m.group(0).isdigit() else "[phone]", text)
    return LONG_DIGITS.sub("[number]", text)
