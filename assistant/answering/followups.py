"""A follow-up question resolved into a standalone one, from the server's own record of the
earlier turn (its standalone question and the sections that answered it), never from text
the client claims.

The rules, general and in English and French: a question that names its own action and its
own topic, with no opening cue ("and…", "what about…", "et pour…") and no pronoun, stands
alone ("enable 2FA" after a question on clients carries nothing). Otherwise it leans on the
earlier turn:
- "what about the password?" (a cue, a topic, no action of its own): the earlier question,
  its topic swapped ("how do I change my email?" → "how do I change my password?");
- "and how do I delete one?", "can it repeat every month?", "comment la supprimer ?" (a
  pronoun, or an action without a topic): the pronoun stands for the earlier topic ("how do
  I delete a customer?"); without one, the earlier topic is added.
The earlier answer's sections then rank a little higher (helpdocs.selectors).

The rules only propose. `choose` ranks the readings on the docs' evidence: the question
alone, and the question with the earlier turn's topic (the rules' rewrite, and the question
joined with the earlier topic) with its sections as a prior, and takes the follow-up reading
when the docs clearly support it better ("I never got the email" after "I forgot my
password": no cue, no pronoun, yet only the password doc answers it). A cue or a pronoun
favours the follow-up reading; a question the docs answer as well alone stands alone.
"""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from assistant.helpdocs.selectors import NONE, Retrieval
from assistant.helpdocs.text import GENERIC, STOPWORDS, fold

# How readers say what they do in any app, English and French: the words of a question
# that are its action, not its topic.
ACTIONS = frozenset(
    """add create make new delete remove erase edit change update modify rename send resend
    export import print share block mute unblock find search set get open close enable
    disable turn switch use see show view save download upload move copy invite archive
    restore cancel pay stop start reset configure manage hide unhide pin unpin follow
    unfollow approve report merge sort filter do can does
    ajouter creer nouveau nouvelle supprimer effacer modifier changer renommer envoyer
    exporter importer imprimer partager bloquer trouver chercher ouvrir fermer activer
    desactiver utiliser voir afficher enregistrer telecharger deplacer copier inviter
    archiver restaurer annuler payer arreter configurer gerer masquer epingler suivre
    approuver signaler fusionner trier filtrer faire""".split()
)
_CUES = (
    "and what about", "and how about", "what about", "how about", "and also", "and then",
    "and", "also", "then", "so", "et pour", "et si", "et alors", "et", "aussi", "puis",
    "sinon",
)  # fmt: skip
# A cue that puts a new topic in the earlier question's place ("what about invoices?").
_SWAP_CUES = frozenset({"and what about", "and how about", "what about", "how about", "et pour"})
_PRONOUNS = frozenset(
    """it its one ones them they their this that these those his her ca cela celui celle
    ceux celles en y leur leurs son sa ses""".split()
)
# Nouns too general to rank by (helpdocs.text.GENERIC), yet a topic a question names ("delete
# my account" is no follow-up of a question on polls).
_GENERAL_NOUNS = frozenset(
    "account app application website site page screen button menu tab link option field "
    "profile settings compte bouton profil parametres".split()
)
# French object pronouns before a verb: "comment la supprimer", "l'exporter".
_FRENCH_OBJECT = re.compile(r"\b(?:le|la|les|l)\s+(?=\w+(?:er|ir|re|ez|ons)\b)")
_ARTICLES = frozenset("a an the my your our un une le la les l des du mon ma mes votre vos".split())
_WORD = re.compile(r"[\w-]+(?:['’][\w-]+)?|['’]")
# The prepositions that open a new topic in a cue's place ("and for polls?").
_PREPOSITIONS = frozenset("for in on with about to of pour dans sur avec de du des".split())
_AUXILIARIES = frozenset("do does can could would should will".split())


@dataclass(frozen=True)
class Turn:
    """An earlier turn, as the server recorded it."""

    question: str  # its standalone (resolved) question
    sources: list[dict] = field(default_factory=list)  # the sections it cited: title, url


@dataclass(frozen=True)
class Resolved:
    question: str  # the standalone question answered
    follow_up: bool  # it leaned on the earlier turn
    prior_sections: tuple[str, ...] = ()  # the earlier answer's sections: a ranking prior


def _tokens(text: str) -> list[str]:
    """The words as written ("l'envoyer" → "l'", "envoyer")."""
    out = []
    for token in _WORD.findall(text):
        head, sep, tail = token.partition("'") if "'" in token else token.partition("’")
        if sep and head.lower() in ("l", "d", "j", "n", "qu", "s", "c", "m", "t") and tail:
            out += [head + sep, tail]
        elif token not in ("'", "’"):
            out.append(token)
    return out


def _key(token: str) -> str:
    return fold(token).rstrip("'’")


def _kind(token: str) -> str:
    word = _key(token)
    if word in _PRONOUNS:
        return "pronoun"
    if word in ACTIONS or word.rstrip("s") in ACTIONS or word.removesuffix("ing") in ACTIONS:
        return "action"
    if word in _GENERAL_NOUNS or word.rstrip("s") in _GENERAL_NOUNS:
        return "topic"
    if word in STOPWORDS or word in GENERIC or word.isdigit() or len(word) < 2:
        return "other"
    return "topic"


def _cue(tokens: list[str]) -> tuple[str, int]:
    """The cue opening the question, and how many words it takes."""
    words = [_key(t) for t in tokens]
    for cue in _CUES:
        parts = cue.split()
        if words[: len(parts)] == parts:
            return cue, len(parts)
    return "", 0


def _topic_groups(tokens: list[str]) -> list[tuple[int, int]]:
    """Where the question's topics are: runs of topic words, each with an article before it;
    a question with none names its action instead ("how do I mute someone" → "mute")."""
    groups: list[tuple[int, int]] = []
    for wanted in ("topic", "action"):
        for i, token in enumerate(tokens):
            if _kind(token) != wanted or (wanted == "action" and _key(token) in _AUXILIARIES):
                continue
            if groups and groups[-1][1] == i:
                groups[-1] = (groups[-1][0], i + 1)
            else:
                start = i - 1 if i > 0 and _key(tokens[i - 1]) in _ARTICLES else i
                groups.append((start, i + 1))
        if groups:
            return groups
    return groups


def signals(question: str) -> bool:
    """Whether the question opens with a cue or holds a pronoun: it leans on something said."""
    tokens = _tokens(question)
    _, skip = _cue(tokens)
    rest = tokens[skip:]
    french = bool(_FRENCH_OBJECT.search(" ".join(_key(t) for t in rest)))
    return bool(skip) or french or any(_kind(t) == "pronoun" for t in rest)


def resolve(question: str, earlier: Turn | None) -> Resolved:
    """`question` as a standalone question, given the earlier turn (None: a first question)."""
    if earlier is None:
        return Resolved(question, False)
    tokens = _tokens(question)
    cue, skip = _cue(tokens)
    rest = tokens[skip:]
    kinds = [_kind(t) for t in rest]
    french_pronoun = bool(_FRENCH_OBJECT.search(" ".join(_key(t) for t in rest)))
    has_pronoun = "pronoun" in kinds or french_pronoun
    own_topic, own_action = "topic" in kinds, "action" in kinds
    if not cue and not has_pronoun and own_topic:
        return Resolved(question, False)  # it names its own topic
    before = _tokens(earlier.question)
    groups = _topic_groups(before)
    if not groups:
        return Resolved(question, False)  # nothing to carry
    start, end = groups[0]
    topic = before[start:end]
    if own_topic and not own_action and not has_pronoun:
        # "what about invoices?", "and for polls?": the earlier question on this topic.
        while rest and _key(rest[0]) in _PREPOSITIONS:
            rest = rest[1:]
        if len(groups) == 1:
            words = [*before[:start], *rest, *before[end:]]
        else:
            words = [*before, f"({' '.join(rest)})"]
    elif has_pronoun:
        words = _replace_pronoun(rest, topic, french_pronoun)
        if not own_action:
            # "what happens to their follows?" after "how do I block a user": what was done.
            done = [t for t in before if _kind(t) == "action" and _key(t) not in _AUXILIARIES]
            words += [f"({' '.join(done)})"] if done else []
    elif own_topic:
        # A new action on a new topic, after a cue: the earlier topic as its context.
        words = [*rest, f"({' '.join(topic)})"]
    else:
        words = [*rest, *_with_article(topic)]
    prior = tuple(s["url"] for s in earlier.sources if isinstance(s, dict) and "url" in s)
    return Resolved(_as_question(words, question), True, prior)


def _with_article(topic: list[str]) -> list[str]:
    return topic if _key(topic[0]) in _ARTICLES else ["the", *topic]


def _replace_pronoun(tokens: list[str], topic: list[str], french: bool) -> list[str]:
    """The words with their first pronoun standing for the earlier topic."""
    if french:
        for i, token in enumerate(tokens):
            if _key(token) in ("le", "la", "les", "l") and i + 1 < len(tokens):
                return [*tokens[:i], tokens[i + 1], *topic, *tokens[i + 2 :]]
    for i, token in enumerate(tokens):
        if _key(token) in _PRONOUNS:
            return [*tokens[:i], *_with_article(topic), *tokens[i + 1 :]]
    return [*tokens, *topic]


def _as_question(words: list[str], typed: str) -> str:
    """The resolved words as a question, ending as the typed one did."""
    text = re.sub(r"(\w['’]) ", r"\1", " ".join(words)).strip()
    if not text:
        return typed
    typed = typed.rstrip()
    end = " ?" if typed.endswith(" ?") else "?" if typed.endswith("?") else ""
    return text[:1].upper() + text[1:] + end


# --- the readings, ranked on evidence --------------------------------------------------------

# How much better supported one reading must be than the other to be clearly better: the
# difference of their log-odds that their best section answers (helpdocs.coverage's
# confidence), 1.0 being odds e ≈ 2.7 times higher (0.5 → 0.73, 0.9 → 0.96). On the odds,
# not the probability: the confidences of answered questions crowd near 1.
MARGIN = 1.0
# The surest a reading counts as (and 1 - SURE the least sure).
SURE = 0.99
# bench.eval_followups: the rules' reading alone, as before the readings were ranked.
RULES_ONLY = False

Retrieve = Callable[[str, tuple[str, ...]], Retrieval]  # (question, prior sections)


def _support(retrieval: Retrieval) -> float:
    """The log-odds that the retrieval's best section answers, within SURE: past it the
    model's odds say no more (0.995 against 0.9999 is no evidence)."""
    p = min(max(retrieval.confidence, 1 - SURE), SURE)
    return math.log(p / (1 - p))


def _topic_phrase(question: str) -> list[str]:
    """The earlier question's words from its action or topic on ("how do I create an
    invoice?" → "create an invoice"): what a follow-up leans on."""
    tokens = _tokens(question)
    for i, token in enumerate(tokens):
        kind = _kind(token)
        if kind == "topic" or (kind == "action" and _key(token) not in _AUXILIARIES):
            return tokens[i:]
    return []


def _joined(question: str, earlier: Turn) -> str:
    """The question with the earlier topic in brackets: "How do I make it stop (bill a
    client every month)?"."""
    topic = _topic_phrase(earlier.question)
    if not topic:
        return ""
    typed = question.strip()
    body = typed.rstrip("?？ ").strip()
    end = " ?" if typed.endswith(" ?") else "?" if typed.endswith("?") else ""
    text = re.sub(r"(\w['’]) ", r"\1", f"{body} ({' '.join(topic)})")
    return text[:1].upper() + text[1:] + end


def _own_share(reading: Retrieval, alone: Retrieval) -> float:
    """The share of the question's own topic (each term by its weight) that the reading's best
    section holds."""
    if not reading.hits:
        return 0.0
    total = sum(alone.weights.get(t, 1.0) for t in alone.topic)
    held = sum(alone.weights.get(t, 1.0) for t in alone.topic & reading.hits[0].matched)
    return held / total if total else 1.0


def _holds_own_words(reading: Retrieval, alone: Retrieval) -> bool:
    """The reading's best section holds some of the question's own words (its topic, or any
    word of it the docs have): it answers the follow-up, not the earlier question again. A
    question without a topic of its own ("and then?") passes."""
    if not alone.topic:
        return True
    own = alone.topic.union(*(h.matched for h in alone.hits))
    return bool(reading.hits and own & reading.hits[0].matched)


def _clearly_better(reading: Retrieval, alone: Retrieval) -> bool:
    """The follow-up reading is clearly better supported than the question alone: the docs
    cover it (`maybe` at least) and it is likelier by MARGIN."""
    return reading.coverage != NONE and _support(reading) - _support(alone) >= MARGIN


def _doc(url: str) -> str:
    return url.split("#")[0]


def _continues(reading: Retrieval, alone: Retrieval, prior: tuple[str, ...]) -> bool:
    """As well supported, the follow-up reading stays in the docs the earlier answer cited
    while the question alone leaves them: the conversation goes on ("getting a 403 error"
    after a question on one integration). Only if its section holds at least half as much of
    the question's own topic: a switch joined with the earlier topic drifts back to the
    earlier doc by the earlier words ("import my apple notes" after a question on the
    graph); a follow-up's section may say the question in other words."""
    docs = {_doc(url) for url in prior}
    return (
        bool(reading.hits and alone.hits)
        and _doc(reading.hits[0].passage.url) in docs
        and _doc(alone.hits[0].passage.url) not in docs
        and reading.coverage != NONE
        and abs(_support(reading) - _support(alone)) < MARGIN
        and _own_share(reading, alone) >= _own_share(alone, alone) / 2
    )


def choose(question: str, earlier: Turn | None, retrieve: Retrieve) -> tuple[Resolved, Retrieval]:
    """The reading of `question` the docs support best, and its retrieval. A first question
    stands alone. After an earlier turn, the follow-up reading is taken when the rules find
    that the question leans on it (a cue, a pronoun, no topic of its own), unless the
    question alone is clearly better supported (by MARGIN); without them, only when the
    follow-up reading is (_clearly_better). The question joined with the earlier topic
    counts only where its best section holds the question's own words: else it answers the
    earlier question again ("and how do I delete one?" is not answered by the doc on adding
    one, nor an off-topic question by the earlier doc)."""
    ruled = resolve(question, earlier)
    if earlier is None or RULES_ONLY:
        return ruled, retrieve(ruled.question, ruled.prior_sections)
    prior = tuple(s["url"] for s in earlier.sources if isinstance(s, dict) and "url" in s)
    texts = [ruled.question] if ruled.follow_up else []
    joined = _joined(question, earlier)
    if joined and joined not in texts:
        texts.append(joined)
    alone = retrieve(question, ())
    readings = [(t, retrieve(t, prior)) for t in texts]
    readings = [(t, r) for t, r in readings if t == ruled.question or _holds_own_words(r, alone)]
    if not readings:
        return Resolved(question, False), alone
    # The best supported follow-up reading (the rules' rewrite first on a tie).
    text, retrieval = max(readings, key=lambda reading: _support(reading[1]))
    if ruled.follow_up:
        lean = _support(retrieval) - _support(alone) > -MARGIN
    else:
        lean = _clearly_better(retrieval, alone) or _continues(retrieval, alone, prior)
    if lean:
        return Resolved(text, True, prior), retrieval
    return Resolved(question, False), alone
