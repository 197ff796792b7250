"""Text normalisation shared by the cache key, the docs ranking and the logs."""

import re
import unicodedata

_WORD = re.compile(r"[a-z0-9]+")
_SPACES = re.compile(r"\s+")

STOPWORDS = frozenset(
    """a an and are as at be by can do does for from how i in is it me my of on or please
    the this to was what when where which who why will with you your
    au aux avec ce ces comment dans de des du en est et je la le les mon ma mes ne ou par
    pas pour qu que qui quoi sur un une vos votre""".split()
)

# Words users say for the words our docs use. Small on purpose: the demo's domain.
SYNONYMS = {
    "customer": "client",
    "customers": "client",
    "bill": "invoice",
    "bills": "invoice",
    "facture": "invoice",
    "factures": "invoice",
    "add": "create",
    "new": "create",
    "ajouter": "create",
    "creer": "create",
    "nouveau": "create",
    "nouvelle": "create",
    "make": "create",
    "remove": "delete",
    "erase": "delete",
    "supprimer": "delete",
    "pay": "payment",
    "paid": "payment",
    "paiement": "payment",
    "signin": "login",
    "log": "login",
    "connexion": "login",
    "passcode": "password",
    "mot": "password",
    "export": "export",
    "download": "export",
    "exporter": "export",
    "change": "edit",
    "modify": "edit",
    "update": "edit",
    "modifier": "edit",
}


def fold(text: str) -> str:
    """Lower-case and strip accents: "Créer" → "creer"."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def normalise_question(question: str) -> str:
    """The question as the cache and the logs see it: case, spaces and punctuation ignored."""
    return " ".join(_WORD.findall(fold(question)))


def stem(word: str) -> str:
    """A light suffix stripper for English and French: "invoices", "invoicing" → "invoic"."""
    for suffix, repl in (
        ("ies", "y"),
        ("sses", "ss"),
        ("ing", ""),
        ("ed", ""),
        ("es", ""),
        ("s", ""),
    ):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            word = word[: -len(suffix)] + repl
            break
    if len(word) > 4 and word.endswith("e"):
        word = word[:-1]
    return word


def terms(text: str) -> list[str]:
    """Search terms of `text`: folded, stop words dropped, synonyms mapped, stemmed."""
    out = []
    for word in _WORD.findall(fold(text)):
        if word in STOPWORDS:
            continue
        out.append(stem(SYNONYMS.get(word, word)))
    return out


def squeeze(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def truncate_words(text: str, limit: int) -> str:
    """At most `limit` characters of `text`, cut at a word boundary."""
    text = squeeze(text)
    if len(text) <= limit:
        return text
    if limit <= 1:
        return ""
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:.") + "…"
