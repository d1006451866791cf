"""Safety detectors: bot questions, minors, opt-outs, prompt injection, human claims, leaks.

Every rule matches whole words on an accent-free, lowercased copy of the text, so
"training" is never "AI", "c'est vrai" is never "are you real?", and "germany" never
holds "many". Patterns cover English, French, Spanish, Italian, German and Portuguese.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

_COMBINING = re.compile(r"[\u0300-\u036f]")


def fold(text: str) -> str:
    """Lowercase, accents removed, one kind of apostrophe, single spaces."""
    plain = _COMBINING.sub("", unicodedata.normalize("NFKD", text.casefold()))
    return " ".join(plain.replace("’", "'").replace("`", "'").split())


def _any(patterns: Iterable[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


# -- minors ----------------------------------------------------------------------------------

_AGE_WORDS = (
    "ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|"  # en
    "dix|onze|douze|treize|quatorze|quinze|seize|dix[- ]sept|"  # fr
    "diez|once|doce|trece|catorce|quince|dieciseis|diecisiete|"  # es
    "dieci|undici|dodici|tredici|quattordici|quindici|sedici|diciassette|"  # it
    "zehn|elf|zwolf|dreizehn|vierzehn|funfzehn|sechzehn|siebzehn|"  # de
    "dez|doze|treze|catorze|dezesseis|dezasseis|dezessete|dezassete"  # pt
)
_AGE = rf"(?:1[0-7]|{_AGE_WORDS})"
# "I'm 15 minutes away" is not an age.
_NOT_AN_AGE = (
    r"(?!\s*(?:min|mins|minute|minutes|minuten|minutos|minuti|h\b|hour|hours|hrs|heures|"
    r"stunden|horas|ore|sec|km|miles|%|\$|€|euros?|dollars?|k\b|pm|am\b|cm|kg|lbs|times|"
    r"days|weeks|months|followers|percent|prozent|o'?clock))"
)
_GRADE = r"(?:[1-9]|1[0-2])(?:st|nd|rd|th|e|eme|o|a|º|°)?"
MINOR = _any(
    [
        # en
        rf"\b(?:i'?m|i am|im)\s+(?:only\s+|just\s+|about to turn\s+)?{_AGE}\b{_NOT_AN_AGE}",
        rf"^{_AGE}\s*(?:yo|y/o|y\.o\.?|years? old|yrs? old)\b",
        rf"\b(?:i'?m|i am|im)\s+{_AGE}\s*(?:yo|y/o|years? old|yrs? old)\b",
        rf"\b(?:i'?m|i am|im)\s+(?:in\s+)?(?:{_GRADE}\s+grade|grade\s+{_GRADE}|year\s+(?:[7-9]|1[0-2])"
        r"|middle school|junior high|high school)\b",
        r"\b(?:i'?m|i am|im)\s+a\s+(?:freshman|sophomore|junior)\s+in\s+high\s+school\b",
        # fr
        rf"\bj'?\s?ai\s+(?:que\s+|seulement\s+|bientot\s+)?{_AGE}\s*ans\b",
        r"\b(?:je suis|jsuis|j'suis|chuis)\s+(?:en|au)\s+(?:6e|6eme|sixieme|5e|5eme|cinquieme|"
        r"4e|4eme|quatrieme|3e|3eme|troisieme|seconde|2nde|premiere|1ere|terminale|college|lycee)\b",
        # es
        rf"\b(?:tengo|yo tengo)\s+(?:solo\s+)?{_AGE}\s*(?:anos|anitos)\b",
        r"\b(?:estoy en|voy a la|voy al)\s+(?:la\s+)?(?:secundaria|prepa|preparatoria|"
        r"bachillerato|instituto|eso)\b",
        # it
        rf"\bho\s+(?:solo\s+)?{_AGE}\s*anni\b",
        r"\b(?:vado|sono|faccio)\s+(?:alle|in|la|il)\s+(?:medie|prima media|seconda media|"
        r"terza media|liceo|superiori)\b",
        # de
        rf"\bich\s+bin\s+(?:erst\s+|nur\s+)?{_AGE}\b{_NOT_AN_AGE}",
        r"\bich\s+(?:gehe|geh|bin)\s+in\s+(?:die|der)\s+(?:[5-9]|1[0-3])\.?\s*klasse\b",
        # pt
        rf"\b(?:tenho|eu tenho)\s+(?:so\s+|apenas\s+)?{_AGE}\s*anos\b",
        r"\b(?:estou|to|eu estou)\s+no\s+(?:[5-9]|1[0-2])\s*(?:o|º|°)?\s*ano\b",
        r"\b(?:estou|to|eu estou)\s+no\s+ensino\s+(?:medio|fundamental)\b",
    ]
)


def says_minor(text: str) -> bool:
    """The contact says they are under 18 (an age 10-17 or a school grade)."""
    return bool(MINOR.search(fold(text)))


# -- opt-out ---------------------------------------------------------------------------------

_OPT_OUT_WHOLE = re.compile(
    r"^(?:please\s+)?(?:stop|stop it|stop please|stop pls|unsubscribe|arrete|arretez|arret|stp arrete|"
    r"basta|para|pare|parar|stopp|hor auf|halt)[\s!.]*$"
)
_OPT_OUT_PHRASE = _any(
    [
        r"\bstop\s+(?:messaging|texting|writing to|sending me|dming|dm'?ing|spamming|contacting)\b",
        r"\bleave me alone\b",
        r"\b(?:don'?t|do not|dont)\s+(?:message|text|dm|contact|write to)\s+me\b",
        r"\bunsubscribe\b",
        r"\bremove me from\b",
        r"\blaisse[sz]?[- ]moi tranquille\b",
        r"\barrete[sz]? de m'?\s?(?:ecrire|envoyer|spammer|harceler|contacter)\b",
        r"\bne m'?\s?ecri[st] plus\b",
        r"\bfous[- ]moi la paix\b",
        r"\bdejame en paz\b",
        r"\bdeja de escribirme\b",
        r"\bno me escribas mas\b",
        r"\blasciami in pace\b",
        r"\bsmettila di scrivermi\b",
        r"\bnon scrivermi piu\b",
        r"\blass mich in ruhe\b",
        r"\bhor auf mir zu schreiben\b",
        r"\bschreib mir nicht mehr\b",
        r"\bme deixa em paz\b",
        r"\bpar[ae] de me mandar\b",
        r"\bnao me mande mais\b",
    ]
)
_NEGATED = re.compile(r"\b(?:don'?t|dont|never|can'?t|cant|won'?t|wont|ne|pas)\s+$")


def opts_out(text: str) -> bool:
    """The contact asks not to be messaged any more."""
    folded = fold(text)
    bare = re.sub(r"[^\w\s'!.-]", "", folded).strip()
    if _OPT_OUT_WHOLE.match(bare):
        return True
    for match in _OPT_OUT_PHRASE.finditer(folded):
        if not _NEGATED.search(folded[: match.start()]):
            return True
    return False


# -- "are you a bot?" ------------------------------------------------------------------------

_BOT_WORDS = r"(?:bot|robot|chatbot|ai|a\.i\.?|ia|ki|robo|roboter|automated|automatic)"
BOT_QUESTION = _any(
    [
        # en
        rf"\b(?:are|r)\s+(?:you|u|ya)\s+(?:a\s+|an\s+)?(?:real\s+)?(?:{_BOT_WORDS}|human|real|"
        r"real person|person|actual person|a real person)\b",
        rf"\b(?:is this|is that|this is)\s+(?:a\s+|an\s+)?(?:{_BOT_WORDS}|real|really you|"
        r"automated|a real person)\b",
        rf"\bam i\s+(?:talking|chatting|speaking|texting)\s+(?:to|with)\s+(?:a\s+|an\s+)?"
        rf"(?:{_BOT_WORDS}|human|real person|machine)\b",
        rf"\b(?:you'?re|youre|ur|you are)\s+(?:a\s+|an\s+)?{_BOT_WORDS}\b",
        # fr
        rf"\b(?:t'?\s?es|tu es|es[- ]tu|vous etes|etes[- ]vous)\s+(?:un\s+|une\s+)?(?:{_BOT_WORDS}|"
        r"intelligence artificielle|vraie personne|vrai humain|humain|humaine|reel|reelle)\b",
        rf"\bc'?\s?est\s+(?:un|une)\s+(?:{_BOT_WORDS}|intelligence artificielle)\b",
        rf"\bje parle (?:a|avec) (?:un|une)\s+(?:{_BOT_WORDS}|vraie personne|humain|machine)\b",
        # es
        rf"\b(?:eres|sos|es)\s+(?:un\s+|una\s+)?(?:{_BOT_WORDS}|humano|humana|persona real)\b",
        rf"\bestoy hablando con (?:un|una)\s+(?:{_BOT_WORDS}|persona|humano|maquina)\b",
        # it
        rf"\b(?:sei|e)\s+(?:un\s+|una\s+)?(?:{_BOT_WORDS}|umano|umana|persona vera|persona reale)\b",
        rf"\bsto parlando con (?:un|una)\s+(?:{_BOT_WORDS}|persona|umano|macchina)\b",
        # de
        rf"\b(?:bist du|sind sie|ist das)\s+(?:ein\s+|eine\s+)?(?:{_BOT_WORDS}|mensch|echt|"
        r"echte person)\b",
        rf"\b(?:rede|schreibe|spreche) ich mit (?:einem|einer)\s+(?:{_BOT_WORDS}|mensch|maschine)\b",
        # pt
        rf"\b(?:voce e|vc e|voce eh|vc eh|tu es)\s+(?:um\s+|uma\s+)?(?:{_BOT_WORDS}|humano|humana|"
        r"pessoa real|real)\b",
        rf"\b(?:estou|to) falando com (?:um|uma)\s+(?:{_BOT_WORDS}|pessoa|humano|maquina)\b",
    ]
)


def asks_if_bot(text: str) -> bool:
    """The contact asks whether they are talking to a bot, an AI or a real person."""
    return bool(BOT_QUESTION.search(fold(text)))


# -- prompt injection ------------------------------------------------------------------------

INJECTION = _any(
    [
        r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|your\s+|the\s+|previous\s+|"
        r"prior\s+|above\s+|earlier\s+)*(?:instructions|rules|prompt|directions|guidelines)\b",
        r"\bsystem\s+prompt\b",
        r"\b(?:print|show|reveal|repeat|output|display|tell me)\s+(?:me\s+)?(?:your\s+|the\s+)?"
        r"(?:initial\s+|original\s+|hidden\s+)?(?:prompt|instructions)\b",
        r"\byou are now\b",
        r"\bdeveloper mode\b",
        r"\bjailbreak\b",
        r"\bignore (?:tes|les|toutes les|vos) (?:instructions|consignes|regles)\b",
        r"\bmontre[- ]moi (?:ton|tes|le) (?:prompt|instructions|consignes)\b",
    ]
)


def looks_like_injection(text: str) -> bool:
    return bool(INJECTION.search(fold(text)))


# -- what a reply may not say ----------------------------------------------------------------

HUMAN_CLAIM = _any(
    [
        rf"\b(?:i'?m|i am|im)\s+not\s+(?:a\s+|an\s+)?(?:{_BOT_WORDS}|machine|program)\b",
        r"\b(?:i'?m|i am|im)\s+(?:a\s+)?(?:real|human|real person|actual person|real human|"
        r"human being|real girl|real guy|real woman|real man)\b",
        r"\b(?:100%|totally|definitely|very much)\s+(?:real|human)\b",
        r"\bno bots? here\b",
        r"\bje suis (?:une |un )?(?:vraie personne|vrai humain|humain|humaine|reel|reelle)\b",
        rf"\bje ne suis pas (?:un |une )?(?:{_BOT_WORDS}|machine)\b",
        rf"\b(?:pas|jamais) (?:un|une) (?:{_BOT_WORDS})\b",
        r"\bsoy (?:una |un )?(?:persona real|humano|humana|real)\b",
        rf"\bno soy (?:un |una )?(?:{_BOT_WORDS}|maquina)\b",
        r"\bsono (?:una |un )?(?:persona vera|persona reale|umano|umana|reale)\b",
        rf"\bnon sono (?:un |una )?(?:{_BOT_WORDS}|macchina)\b",
        r"\bich bin (?:ein |eine )?(?:mensch|echter mensch|echte person)\b",
        r"\bich bin (?:kein|keine) (?:bot|roboter|ki|maschine)\b",
        r"\bsou (?:uma |um )?(?:pessoa real|humano|humana|real)\b",
        rf"\bnao sou (?:um |uma )?(?:{_BOT_WORDS}|maquina)\b",
    ]
)


def claims_human(reply: str) -> bool:
    return bool(HUMAN_CLAIM.search(fold(reply)))


def _shingles(text: str, size: int) -> list[tuple[str, ...]]:
    tokens = re.findall(r"\w+", fold(text))
    return [tuple(tokens[i : i + size]) for i in range(len(tokens) - size + 1)]


@lru_cache(maxsize=64)  # a persona has a handful of distinct instruction texts
def _prompt_shingles(prompt: str, size: int) -> frozenset[tuple[str, ...]]:
    return frozenset(_shingles(prompt, size))


def prompt_overlap(reply: str, prompt: str, size: int = 4) -> float:
    """Share of the reply's word 4-grams that stand in the prompt (0 for short replies)."""
    reply_shingles = _shingles(reply, size)
    if len(reply_shingles) < 2:
        return 0.0
    prompt_shingles = _prompt_shingles(prompt, size)
    shared = sum(1 for shingle in reply_shingles if shingle in prompt_shingles)
    return shared / len(reply_shingles) if shared >= 2 else 0.0
