"""Text normalisation shared by the cache key, the docs ranking and the logs."""

import re
import unicodedata

_WORD = re.compile(r"[a-z0-9]+")
_SPACES = re.compile(r"\s+")

STOPWORDS = frozenset(
    """a an and are as at be by can do does for from how i in is it me my of on or please
    the this to was what when where which who why will with you your
    not no has have had them they their its our we us so if but just there here then than
    would should could may might must did done been am were s t don doesn didn isn cant
    over into about up out off any some all also very only
    au aux avec ce ces comment dans de des du en est et je la le les mon ma mes ne ou par
    pas pour qu que qui quoi sur un une vos votre""".split()
)

# Words that say nothing about WHICH help topic a question is on ("account", "app"): they
# still rank passages, but a match on them alone is not coverage, nor support for a claim.
GENERIC = frozenset(
    """account app application website site page screen button menu tab link option field
    use using used need want get got set way thing things work working help find know see
    tell show go going possible able someone something anything everything one another
    other top left right time today tomorrow yes ok okay hello hi thanks thank
    compte site page bouton aide""".split()
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
    "remind": "reminder",
    "spreadsheet": "csv",
    "excel": "csv",
    "upload": "import",
    "bring": "import",
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


_GENERIC_STEMS = frozenset(stem(w) for w in GENERIC)


def topic_terms(text: str) -> set[str]:
    """The terms of `text` that name a topic: search terms less generic words and numbers."""
    return {t for t in terms(text) if t not in _GENERIC_STEMS and not t.isdigit()}


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
