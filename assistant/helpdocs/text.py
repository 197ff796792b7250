"""Text normalisation shared by the cache key, the docs ranking, the guard and the logs.

Nothing here knows a site's vocabulary: stop words, words that name no topic, and a small
thesaurus of how readers name what any web app's help describes (its actions and settings),
in English and French. A site's own words (its products, "customer" for "client") are its
docs' business, and meaning beyond shared words is not attempted here.
"""

import re
import threading
import unicodedata
from functools import lru_cache

import snowballstemmer

_WORD = re.compile(r"[a-z0-9]+")
_SPACES = re.compile(r"\s+")

# Snowball's stop word lists for English and French (snowballstem.org), folded, and the
# words of a question's form ("how many", "combien").
STOPWORDS = frozenset(
    """i me my myself we our ours ourselves you your yours yourself yourselves he him his
    himself she her hers herself it its itself they them their theirs themselves what which
    who whom this that these those am is are was were be been being have has had having do
    does did doing would should could ought a an the and but if or because as until while
    of at by for with about against between into through during before after above below to
    from up down in out on off over under again further then once here there when where why
    how all any both each few more most other some such no nor not only own same so than
    too very s t d ll m re ve don doesn didn isn aren wasn weren hasn haven hadn won wouldn
    shan shouldn can cant cannot couldn mustn let will just please many much never none
    nothing nobody
    au aux avec ce ces dans de des du elle en et eux il je la le leur lui ma mais me meme
    mes moi mon ne nos notre nous on ou par pas pour qu que qui sa se ses son sur ta te tes
    toi ton tu un une vos votre vous c j l a n y ete etee etees etes etant suis es est
    sommes etes sont serai seras sera serons serez seront serais serait serions seriez
    seraient etais etait etions etiez etaient fus fut fumes futes furent sois soit soyons
    soyez soient fusse fusses fussions fussiez fussent ayant eu eue eues eus ai as avons
    avez ont aurai auras aura aurons aurez auront aurais aurait aurions auriez auraient
    avais avait avions aviez avaient eut eumes eutes eurent aie aies ait ayons ayez aient
    eusse eusses eussions eussiez eussent ceci cela cet cette ici ils les leurs quel quels
    quelle quelles sans soi comment combien quoi etre peut peux pouvez peuvent pouvons depuis
    jamais aucun aucune rien""".split()
)

# Words that say nothing about WHICH help topic a question is on ("account", "app"): they
# still rank passages, but a match on them alone is not coverage, nor support for a claim.
GENERIC = frozenset(
    """account app application website site page screen button menu tab link option field
    use using used need want get got set way thing things work working help find know see
    tell show go going possible able someone something anything everything one another
    other top left right time today tomorrow yes ok okay hello hi thanks thank
    people person someone somebody anyone anybody everyone everybody certain happen look
    like kind sort type lot stuff
    compte site page bouton aide gens personne quelqu quelque chose""".split()
)

# How readers name the actions and settings of any web app, for the words help docs use.
# General on purpose: nothing of one site's domain (a site's own words are in its docs).
_PHRASES = {
    r"(?:turn|switch|toggle)(?:ing|s|ed)? on\b": "enable",
    r"(?:turn|switch|toggle)(?:ing|s|ed)? off\b": "disable",
    r"(?:log|sign)(?:ging|s|ged|ed)? ?in(?:to)?\b": "login",
    r"(?:log|sign)(?:ging|s|ged|ed)? ?out\b": "logout",
    r"sign(?:ing|s|ed)? ?up\b": "signup",
    r"e-mail": "email",
    r"2fa\b|two[- ]step\b": "two factor",
}
# One pass over a text for all of them (each is a group; the one that matched names it).
_PHRASE = re.compile("|".join(f"\\b({p})" for p in _PHRASES))
_PHRASE_WORDS = list(_PHRASES.values())
SYNONYMS = {
    "add": "create",
    "new": "create",
    "make": "create",
    "ajouter": "create",
    "creer": "create",
    "nouveau": "create",
    "nouvelle": "create",
    "remove": "delete",
    "erase": "delete",
    "supprimer": "delete",
    "effacer": "delete",
    "change": "edit",
    "modify": "edit",
    "update": "edit",
    "modifier": "edit",
    "changer": "edit",
    "activate": "enable",
    "activer": "enable",
    "deactivate": "disable",
    "desactiver": "disable",
    "picture": "image",
    "photo": "image",
    "preferences": "settings",
    "options": "settings",
    "parametres": "settings",
    "reglages": "settings",
    "connexion": "login",
    "signin": "login",
    "mot": "password",
    "passe": "password",
}

# Function words that tell the two languages apart (none is both).
_FRENCH = frozenset(
    """le la les des une un est sont comment pour dans avec je mon ma mes votre vos vous nous
    ne pas du au aux ce cette ces sur et ou peut pouvez puis depuis quand quel quelle quels
    quelles il elle ils elles qui que quoi sans chez mais donc car leur leurs sont suis ai
    faire fait faut dois doit puis-je est-ce""".split()
)
_ENGLISH = frozenset(
    """the a an is are how to for in with i my your you what can it this that not do does
    where when which who why will would should could there their they we our of and or
    from have has""".split()
)
# A stemmer keeps its state while it works: one per thread (two at once corrupt each other).
_stemmers = threading.local()


def _stemmer(language: str):
    stemmers = getattr(_stemmers, "by_language", None)
    if stemmers is None:
        stemmers = _stemmers.by_language = {
            "en": snowballstemmer.stemmer("english"),
            "fr": snowballstemmer.stemmer("french"),
        }
    return stemmers.get(language, stemmers["en"])


# The combining marks that NFKD splits from letters (accents, cedillas, diaereses…).
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")


def fold(text: str) -> str:
    """Lower-case and strip accents: "Créer" → "creer"."""
    return _COMBINING.sub("", unicodedata.normalize("NFKD", text.lower()))


def normalise_question(question: str) -> str:
    """The question as the cache and the logs see it: case, spaces and punctuation ignored."""
    return " ".join(_WORD.findall(fold(question)))


def guess_language(text: str, default: str = "en") -> str:
    """French ("fr") or English ("en") by the function words; `default` when they don't tell."""
    words = _WORD.findall(fold(text))
    fr = sum(w in _FRENCH for w in words)
    en = sum(w in _ENGLISH for w in words)
    return "fr" if fr > en else "en" if en > fr else default


# A doc's language is told by its function words only when there are enough of them and one
# language has clearly more: a title, a table or a code block says nothing.
_DETECT_MIN_WORDS = 4
_DETECT_RATIO = 2.0


def detect_language(text: str) -> str:
    """A doc's language from its text ("fr" or "en"), or "" when the text doesn't tell."""
    words = _WORD.findall(fold(text))
    fr = sum(w in _FRENCH for w in words)
    en = sum(w in _ENGLISH for w in words)
    if max(fr, en) < _DETECT_MIN_WORDS:
        return ""
    if fr >= _DETECT_RATIO * en:
        return "fr"
    return "en" if en >= _DETECT_RATIO * fr else ""


@lru_cache(maxsize=100_000)
def stem(word: str, language: str = "en") -> str:
    """Snowball's stem of a folded word: "invoices", "invoicing" → "invoic"."""
    if word.isdigit():
        return word
    stemmer = _stemmer(language)
    # Twice: a plural's stem and its singular's then meet ("aliases" → "alias" → "alia").
    return stemmer.stemWord(stemmer.stemWord(word))


def terms(text: str, language: str = "") -> list[str]:
    """Search terms of `text`: folded, general phrases named, stop words dropped, synonyms
    mapped, stemmed for `language` (guessed when not given)."""
    folded = _PHRASE.sub(lambda m: _PHRASE_WORDS[m.lastindex - 1], fold(text))
    language = language or guess_language(text)
    out = []
    for word in _WORD.findall(folded):
        if word in STOPWORDS:
            continue
        out.append(stem(SYNONYMS.get(word, word), language))
    return out


@lru_cache(maxsize=4)
def _generic_stems(language: str) -> frozenset[str]:
    return frozenset(stem(w, language) for w in GENERIC)


def topic_terms(text: str, language: str = "") -> set[str]:
    """The terms of `text` that name a topic: search terms less generic words and numbers."""
    language = language or guess_language(text)
    generic = _generic_stems(language)
    return {t for t in terms(text, language) if t not in generic and not t.isdigit()}


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
