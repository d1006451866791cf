"""Safety detectors: bot questions, minors, opt-outs, prompt injection, human claims, leaks.

Every rule matches whole words on an accent-free, lowercased copy of the text, so
"training" is never "AI", "c'est vrai" is never "are you real?", and "germany" never
holds "many". Patterns cover English, French, Spanish, Italian, German and Portuguese.
They are tuned against the labelled corpus tests/data/detectors.yaml; docs/detectors.md
gives each detector's rules, thresholds and measured precision and recall.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from enum import StrEnum
from functools import lru_cache

_COMBINING = re.compile(r"[\u0300-\u036f]")
# Every detector folds the text it reads, and one message meets about ten of them (some
# twice: in receive and again in policy): a small memo folds it once. Bounded, so memory
# stays flat however many contacts write.
_MEMO = 256


@lru_cache(maxsize=_MEMO)
def fold(text: str) -> str:
    """Lowercase, accents removed, one kind of apostrophe, single spaces."""
    plain = _COMBINING.sub("", unicodedata.normalize("NFKD", text.casefold()))
    return " ".join(plain.replace("’", "'").replace("`", "'").split())


def _any(patterns: Iterable[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


_NEGATORS = frozenset(
    [
        *("not", "no", "never", "dont", "don't", "didnt", "didn't", "cant", "can't", "wont"),
        *("won't", "nope"),  # en ("no" is es too)
        *("pas", "ne", "jamais", "plus"),  # fr
        *("nunca", "jamas"),  # es
        *("non", "mai"),  # it
        *("nicht", "kein", "keine", "keinen", "nie", "niemals"),  # de
        *("nao", "nem"),  # pt
    ]
)
_CLAUSE_BREAK = re.compile(r"[.,;:!?]|\b(?:but|mais|pero|ma|aber|mas)\b")


def negated_at(folded: str, start: int) -> bool:
    """A negation among the three words before `start`, in the same clause ("don't stop")."""
    before = folded[max(0, start - 60) : start]  # three words fit in 60 characters
    breaks = list(_CLAUSE_BREAK.finditer(before))
    if breaks:
        before = before[breaks[-1].end() :]
    words = re.findall(r"[\w']+", before)[-3:]
    return any(word in _NEGATORS or word.endswith("n't") for word in words)


# -- minors ----------------------------------------------------------------------------------

_AGE_EN = r"(?:1[0-7]|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen)"
_AGE_FR = r"(?:1[0-7]|dix|onze|douze|treize|quatorze|quinze|seize|dix[- ]sept)"
_AGE_ES = r"(?:1[0-7]|diez|once|doce|trece|catorce|quince|dieciseis|diecisiete)"
_AGE_IT = r"(?:1[0-7]|dieci|undici|dodici|tredici|quattordici|quindici|sedici|diciassette)"
_AGE_DE = r"(?:1[0-7]|zehn|elf|zwolf|dreizehn|vierzehn|funfzehn|sechzehn|siebzehn)"
_AGE_PT = r"(?:1[0-7]|dez|onze|doze|treze|catorze|quatorze|quinze|dez[ae]sseis|dez[ae]ssete)"
_SOON_18 = r"(?:1[0-8]|eighteen)"
_I_AM = r"\b(?:i'?m|i am|im|iam)\s+"
# A number that is a duration, a time, a score or an amount, not an age: "I'm 15 minutes
# away", "I'm 16 hours into this flight", "I'm 10/10 obsessed", "I'm 17 years into".
_NOT_AN_AGE = (
    r"(?!\s*(?:[/:]|[.,]\d|min|mins|minutes?|h\b|hrs?\b|hours?|secs?\b|seconds?|km|miles?|mi\b|"
    r"%|percent|\$|€|£|euros?|dollars?|bucks|k\b|pm\b|am\b|cm|mm|kg|lbs?|times|x\b|days?|weeks?|"
    r"months?|followers|posts|photos|pics|presets|(?:years?|yrs?)\s+(?!old\b|young\b)\w))"
)
_NOT_AN_AGE_DE = (
    r"(?!\s*(?:[/:]|[.,]\d|min|minuten|minute|std|stunden|uhr|h\b|km|meter|%|prozent|€|euro|"
    r"mal\b|tage|wochen|monate|follower|fotos|bilder|(?:jahre?n?)\s+(?!alt\b|jung\b)\w))"
)
# "j'ai 17 ans d'expérience", "tengo 15 años de experiencia", "ho 16 anni di esperienza",
# "tenho 14 anos fotografando": years of something, not an age.
_YEARS_OF = r"(?!\s*(?:d'|de\b|du\b|dans\b|di\b|da\b|che\b|que\b|en\b|con\b|haciendo|\w+ando\b|\w+endo\b|\w+iendo\b))"
_GRADE_EN = r"(?:[6-9]|1[0-2])(?:st|nd|rd|th)?"
# A school year with no "I'm" ("still in school, year 11 lol", "in 9th grade", "year 11
# student"). Grades are US 6th-12th and UK years 7-13: the last year (12th grade, senior,
# year 13) is mostly 17-year-olds, and a false alarm only loses a contact. Never a
# calendar year ("year 2011"), a music grade ("grade 8 piano") or "year 10 of shooting".
_SCHOOL_EN = (
    rf"\b(?:in\s+)?(?:{_GRADE_EN}\s+grade|grade\s+{_GRADE_EN}\b"
    r"(?!\s+(?:piano|violin|guitar|cello|flute|drums|singing|theory|ballet|exam))|"
    r"year\s+(?:[7-9]|1[0-3])\b(?!\s+(?:of|in a row|since|anniversary|together|married)\b)|"
    r"(?:freshman|sophomore|junior|senior)\s+(?:in|at)\s+(?:high\s+school|hs)\b|"
    r"high\s+school\s+(?:freshman|sophomore|junior|senior)\b)"
)
# Somebody else, a teacher or the past in the same clause before a school year: "my
# daughter is in 9th grade", "I teach year 10", "when I was in year 11".
_SOMEONE_ELSE = frozenset(
    [
        *("he", "she", "they", "he's", "she's", "they're", "his", "her", "their", "him"),
        *("son", "sons", "daughter", "daughters", "kid", "kids", "child", "children"),
        *("brother", "sister", "niece", "nephew", "cousin", "boy", "girl", "students"),
        *("teach", "teaching", "teacher", "taught", "tutor", "coach", "was", "were", "back"),
        *("used", "when"),
    ]
)
_GRADE_FR = r"(?:6e|6eme|sixieme|5e|5eme|cinquieme|4e|4eme|quatrieme|3e|3eme|troisieme|seconde|2nde|premiere|1ere|terminale|college|lycee)"
MINOR = _any(
    [
        # en
        rf"{_I_AM}(?:only\s+|just\s+|literally\s+|like\s+|still\s+)?{_AGE_EN}[fm]?\b{_NOT_AN_AGE}",
        rf"^{_AGE_EN}\s*(?:yo|y/o|y\.o\.?|years? old|yrs? old|[fm])(?!\w)",
        rf"{_I_AM}(?:almost|nearly|turning|about to turn|gonna be|going to be)\s+{_SOON_18}\b{_NOT_AN_AGE}",
        rf"\bi'?ll be\s+{_SOON_18}\b{_NOT_AN_AGE}",
        rf"{_I_AM}(?:not\s+(?:even\s+)?18\b|under\s?18\b|underage\b|under age\b|a minor\b)",
        rf"{_I_AM}(?:still\s+|only\s+|just\s+)?(?:in\s+)?(?:{_GRADE_EN}\s+grade|grade\s+{_GRADE_EN}\b|year\s+(?:[7-9]|1[0-3])\b|middle school|junior high|high school|secondary school)",
        rf"{_I_AM}a\s+(?:freshman|sophomore|junior|senior)\s+in\s+(?:high\s+school|hs)\b",
        rf"{_I_AM}(?:still\s+)?in\s+hs\b",
        # "i just turned 15", "turned 16 yesterday"; never "turned 15 minutes late".
        rf"(?:^|\bi\s+|\bi've\s+)(?:just\s+|recently\s+|only just\s+)turned\s+{_AGE_EN}\b{_NOT_AN_AGE}",
        rf"(?:^|\bi\s+)turned\s+{_AGE_EN}\s+(?:yesterday|today|last (?:week|month)|this (?:week|month))\b",
        # fr
        rf"\bj'?\s?ai\s+(?:que\s+|seulement\s+|juste\s+)?{_AGE_FR}\s*(?:ans|piges|balais)\b{_YEARS_OF}",
        r"\bj'?\s?ai\s+(?:bientot|presque|meme pas|pas encore|pas)\s+18\s*ans\b",
        rf"(?<!quand )(?<!lorsque )\bj'?\s?ai\s+eu\s+{_AGE_FR}\s*ans\b{_YEARS_OF}",
        rf"\b(?:je suis|je sui|jsuis|jsui|j'suis|chuis|chui|je passe|je rentre)\s+(?:qu'|que\s+|seulement\s+|juste\s+|encore\s+)?(?:en|au)\s+{_GRADE_FR}\b(?!\s*(?:annee|an\b|de (?:fac|licence|master)|a la fac))",
        r"\b(?:je suis|jsuis|jsui|j'suis|chuis)\s+(?:encore\s+)?mineure?s?\b",
        rf"\bje\s+viens\s+(?:juste\s+)?d'\s?avoir\s+{_AGE_FR}\s*ans\b{_YEARS_OF}",
        # es
        rf"\b(?:tengo|yo tengo|tngo)\s+(?:solo\s+|solamente\s+|apenas\s+|recien\s+)?{_AGE_ES}(?:\s*(?:anos|anitos|anios)\b{_YEARS_OF}|(?=\s*(?:$|[!?.,]|y\b|jaj|jej|lol|xd|recien|cumplidos)))",
        r"\btengo casi 18\b",
        rf"\b(?:acabo de cumplir|recien cumpli|ya cumpli|acabo de hacer)\s+{_AGE_ES}(?:\s*(?:anos|anitos)\b{_YEARS_OF}|(?=\s*(?:$|[!?.,]|y\b|jaj|jej|lol|xd|ayer|hoy)))",
        r"\b(?:soy|yo soy)\s+menor(?:\s+de\s+edad\b|(?=\s*(?:$|[!?.,])))",
        r"\b(?:estoy en|estoy en la|voy en|voy a la|voy al|curso)\s+(?:(?:\d\s*(?:ro|do|to|er|o)?\.?|primero|segundo|tercero|cuarto|quinto|sexto)\s+(?:de\s+)?)?(?:la\s+)?(?:secundaria|secu|prepa|preparatoria|bachillerato|bachi|instituto|insti)\b",
        r"\b(?:estoy en|voy en|curso)\s+(?:\d\s*(?:ro|do|to|er|o)?|primero|segundo|tercero|cuarto)\s+(?:de\s+)?(?:la\s+)?eso\b",
        # it
        rf"\bho\s+(?:solo\s+|soltanto\s+|appena\s+)?{_AGE_IT}\s*anni\b{_YEARS_OF}",
        r"\bho\s+quasi\s+18\s+anni\b",
        rf"(?<!quando )\bho\s+(?:appena\s+)?compiuto\s+{_AGE_IT}(?:\s*anni\b{_YEARS_OF}|(?=\s*(?:$|[!?.,]|e\b|ahah|haha|lol|xd|ieri|oggi)))",
        r"\bsono\s+(?:ancora\s+)?minorenne\b",
        r"\b(?:vado|sono|faccio|frequento)\s+(?:alle|al|in|la|il|le|l')\s*(?:medie|prima media|seconda media|terza media|liceo|superiori|(?:prima|seconda|terza|quarta|quinta) superiore)\b",
        # de
        rf"(?:\bich\s+bin|^bin)\s+(?:erst\s+|nur\s+|gerade\s+|noch\s+)?{_AGE_DE}\b{_NOT_AN_AGE_DE}",
        rf"\bich\s+(?:bin\s+fast|werde)\s+(?:{_AGE_DE}|18)\b{_NOT_AN_AGE_DE}",
        rf"(?:\bich\s+bin|^bin)\s+(?:\w+\s+){{0,3}}{_AGE_DE}\s+geworden\b",
        r"\bich\s+bin\s+(?:noch\s+)?(?:minderjahrig|unter 18|nicht 18)\b",
        r"\bich\s+(?:gehe|geh|bin)\s+in\s+(?:die|der)\s+(?:(?:[5-9]|1[0-3])\.?|(?:funf|sechs|sieb|ach|neun|zehn|elf|zwolf)te[n]?)\s*(?:klasse|kl)\b",
        r"\bich\s+(?:gehe|geh)\s+(?:noch\s+)?(?:aufs|auf die|auf das|zur)\s+(?:gymnasium|gymi|realschule|hauptschule|gesamtschule|schule)\b",
        # pt
        rf"\b(?:tenho|eu tenho|tnh)\s+(?:so\s+|apenas\s+)?{_AGE_PT}\s*(?:anos|aninhos)\b{_YEARS_OF}",
        r"\btenho quase 18\b",
        rf"\b(?:acabei de fazer|acabei de completar|acabo de fazer|ja fiz|recem fiz|fiz)\s+{_AGE_PT}(?:\s*(?:anos|aninhos)\b{_YEARS_OF}|(?=\s*(?:$|[!?.,]|e\b|kk|rs|haha|ontem|hoje)))",
        rf"\b(?:tenho|eu tenho)\s+(?:so\s+|apenas\s+)?{_AGE_PT}(?=\s*(?:$|[!?.,]|e\b|kk|rs|haha))",
        r"\b(?:sou|eu sou)\s+menor(?:\s+de\s+idade\b|(?=\s*(?:$|[!?.,])))",
        r"\b(?:estou|to|tou|eu estou|eu to)\s+no\s+(?:[5-9]|1[0-2]|quinto|sexto|setimo|oitavo|nono|primeiro|segundo|terceiro)\s*(?:o|°)?\s*ano\b(?!\s*(?:da|de)\s+(?:faculdade|facul|universidade|uni))",
        r"\b(?:estou|to|tou|eu estou|eu to)\s+no\s+(?:ensino\s+)?(?:medio|fundamental)\b",
        r"\b(?:estou|to|tou|eu estou|eu to)\s+no\s+(?:[1-3]|primeiro|segundo|terceiro)\s*(?:o|°)?\s*ano\s+(?:do\s+)?(?:ensino\s+)?medio\b",
        r"\b(?:estou|to|tou|eu estou|eu to)\s+na\s+(?:[5-8]|quinta|sexta|setima|oitava)\s*a?\s+serie\b",
    ]
)


_SCHOOL_EN_RE = re.compile(_SCHOOL_EN)


def _own_school_year(folded: str) -> bool:
    """A school year in a clause that is not about somebody else or the past."""
    for match in _SCHOOL_EN_RE.finditer(folded):
        before = folded[max(0, match.start() - 80) : match.start()]
        breaks = list(_CLAUSE_BREAK.finditer(before))
        clause = before[breaks[-1].end() :] if breaks else before
        if not _SOMEONE_ELSE.intersection(re.findall(r"[\w']+", clause)):
            return True
    return False


def says_minor(text: str) -> bool:
    """The contact says they are under 18 (an age 10-17, a school grade, "underage")."""
    folded = fold(text)
    return bool(MINOR.search(folded)) or _own_school_year(folded)


# -- opt-out ---------------------------------------------------------------------------------


class OptOut(StrEnum):
    """How firmly a message asks to stop.

    EXPLICIT stops the contact for good ("stop", "stop messaging me", "lass mich in ruhe").
    AMBIGUOUS is a "stop" that is banter, not a request ("stop it 😂", "omg stop", "para
    jajaja"): the reply must not pitch, but the contact is not stopped.
    """

    NONE = "none"
    AMBIGUOUS = "ambiguous"
    EXPLICIT = "explicit"


# A whole message that is only a stop command (punctuation and emoji removed).
_STOP_ALONE = re.compile(
    r"^(?:(?:please|pls|plz|i said|just|ok|okay|now|bitte|svp|stp|por favor|porfa|per favore|pf|"
    r"merci|thanks|thank you|ja|ya|ja chega|enough|basta ya)\s+)*"
    r"(?:stop|stop it|stop now|stop that|stop this|stop please|stop pls|unsubscribe|enough|"
    r"arrete|arretez|arret|stop merci|ca suffit|arrete ca|"
    r"basta|para|pare|parad|para ya|ya basta|"
    r"smettila|smetti|smettetela|finiscila|"
    r"stopp|hor auf|hor bitte auf|halt|genug|"
    r"chega|pare com isso)"
    r"(?:\s+(?:please|pls|plz|now|already|bitte|jetzt|svp|stp|merci|por favor|porfa|per favore|"
    r"pf|ya|ja|agora|thanks|thank you))*$"
)
_OPT_OUT_PHRASE = _any(
    [
        # en
        r"\b(?:stop|quit|cease)\s+(?:messaging|texting|writing to|sending me|sending this|dming|dm'?ing|spamming|contacting|bothering|harassing|pitching|selling|following me)\b",
        r"\bleave me alone\b",
        r"\b(?:don'?t|do not|dont|never)\s+(?:message|text|dm|contact|write to|write|spam|pitch)\s+me\b",
        r"\bunsub(?:scribe)?\b",
        r"\bremove me from\b|\btake me off (?:your|the|this|ur|that)\b",
        r"\bno more (?:messages|dms|texts|ads|spam|pitches)\b",
        r"^(?:just\s+|please\s+|pls\s+)?go away\b",
        r"\bblock(?:ing)? (?:you|u)\b",
        # fr
        r"\blaisse[sz]?[- ]moi tranquille\b|\boublie[sz]?[- ]moi\b",
        r"\barrete[sz]?(?: de| d'| donc de)\s*(?:m'|me\s|m\s)\s*(?:ecrire|envoyer|spammer|harceler|contacter|relancer|saouler|soler)",
        r"\bne\s+(?:me\s+|m'\s?)(?:ecri\w*|contact\w*|envoie\w*|relance\w*|spamm?e\w*)\s+plus\b|\bm'ecri[st] plus\b",
        r"\blache[sz]?[- ]moi\b(?!\s+(?:un|une|des|ton|ta|tes|le|la|les)\b)",
        r"\bfous[- ]moi la paix\b|\bfoutez[- ]moi la paix\b",
        r"\b(?:desinscri[st]?|desabonne[sz]?|retire[sz]?)[- ]moi\b",
        r"\b(?:je\s+)?(?:ne\s+)?veux\s+(?:plus|pas)\s+(?:recevoir|de (?:tes |vos )?messages|que tu m'ecrives)",
        r"\bplus de (?:messages?|pubs?|spam)\b",
        # es
        r"\bdejame en paz\b|\bdejeme en paz\b",
        r"\b(?:deja|dejad|deje|dejen|para|pare|paren|parad)\s+(?:ya\s+)?de\s+(?:escribirme|mandarme|enviarme|molestarme|spamearme)\b",
        r"\bno me (?:escribas|escriba|escriban|mandes|envies|molestes|contactes)\b",
        r"\bno (?:quiero|deseo) (?:recibir )?mas mensajes\b|\bno mas mensajes\b",
        # it
        r"\blasciami in pace\b|\blasciatemi in pace\b",
        r"\b(?:smettila|smettetela|smetti|smettete)\s+di\s+(?:scrivermi|mandarmi|contattarmi|scrivere)\b",
        r"\bnon (?:scrivermi|contattarmi|mandarmi messaggi) piu\b",
        r"\bbasta (?:messaggi|con i messaggi|scrivermi|pubblicita)\b",
        r"\bnon voglio piu (?:messaggi|ricevere)\b",
        # de
        r"\blass(?:t)? mich in ruhe\b",
        r"\bhor(?:t)?\s+(?:(?:bitte|doch|endlich|jetzt|mal)\s+)*auf,?\s+(?:mir|mich)\s+(?:zu schreiben|anzuschreiben|zu nerven|zu kontaktieren|nachrichten|zu texten)\b",
        r"\bschreib(?:t)? mir nicht mehr\b|\bnicht mehr (?:schreiben|anschreiben|kontaktieren)\b",
        r"\bkeine (?:nachrichten|werbung|spam) mehr\b|\b(?:will|mochte)\s+keine\s+(?:nachrichten|werbung)\b",
        r"\bmelde? dich nicht mehr\b",
        # pt
        r"\bme deix[ae] em paz\b",
        r"\b(?:para|pare)\s+de\s+me\s+(?:mandar|enviar|escrever|chamar|encher|incomodar)\b",
        r"\b(?:para|pare)\s+de\s+(?:mandar|enviar)\s+(?:mensage(?:m|ns)|msg)\b",
        r"\bnao me (?:mand[ae]|escrev[ae]|cham[ae]|procur[ae]|perturb[ae]) mais\b",
        r"\bnao quero mais (?:mensage(?:m|ns)|receber)\b|\bchega de (?:mensage(?:m|ns)|spam)\b",
    ]
)
# Only a few words of banter or laughter around a stop word.
_LAUGH = (
    r"(?:a?(?:ha){2,}h?|(?:ah){2,}h?|he(?:he)+|hihi+|(?:ja){2,}j?|(?:je){2,}|k{3,}|(?:rs){2,}|lo+l|"
    r"lmf?ao+|rofl|mdr+|ptdr+|xd+)"
)
_PLAYFUL = re.compile(
    rf"\b{_LAUGH}\b|[😂🤣😭😆😅🙈😍🥰😘😊☺😜😝😁😄😏🫣💀🤭😳❤♥💕🥹😉]|"
    r"\b(?:rire|ridere|lachen|blush|rougir|sem graca|sweet|cute|mignon|mignonne|fofo|fofa|"
    r"funny|drole|gracioso|graciosa|divertente|lustig|engracado|crying|cry|pleurer|llorar|piangere|"
    r"weinen|chorar|sonrojo|sonrojar|arrossisco|arrossire|verlegen|vergonha|corar|blushing)\b|"
    r"\bstop{3,}\b"
)
_STOP_WORD = (
    r"(?:stop+|stopp+|arrete+|arretez|basta+|para+|pare|smettila+|finiscila|hor(?:t)? auf|chega+)"
)
_CLAUSE_START = (
    rf"(?:^|[.,!?;]\s*|\b(?:omg|oh my god|oh|ok|okay|no+|nan|nan mais|mais|ya|dai|ai+|ah+|"
    rf"pls|please|i said|bro|girl|dude|meuf|tia|mano|{_LAUGH})\s+)"
)
# A stop word that opens a clause ("omg stop", "ya para 😂") and is not followed by a
# continuation that makes it another verb ("stop by Porto", "para mi hermana").
_STOP_OPENING = re.compile(
    rf"{_CLAUSE_START}{_STOP_WORD}"
    r"(?=\s*(?:$|[^\w\s']|"
    rf"{_LAUGH}\b|"
    r"(?:stop|para|basta|arrete|"
    r"it|that|this|you'?re|youre|ur|u|you|omg|now|rn|"
    r"tu me|toi|ca|stp|svp|"
    r"ya|porfa|eh|"
    r"com isso|ne|vai|assim|"
    r"dai|mi fai|"
    r"du|bitte|jetzt)\b))"
)
# With laughter or a blush around it, any "stop" opening a clause is banter ("stop lying
# 😭", "arrête j'vais pleurer 😭"), unless it is the verb of a place ("stop by Porto 😍").
# "para" ("for" in Spanish and Portuguese) only after laughter or an interjection.
_STOP_BANTER = re.compile(
    rf"\b(?:{_LAUGH}|ya|ai+|ay+|aff|nossa)\s+para\b|"
    rf"{_CLAUSE_START}(?:stop+|stopp+|arrete+|arretez|basta+|smettila+|finiscila|hor auf|chega+)"
    r"\b(?!\s+(?:by|at|in|over|off|for|on|to|from|near|the|a|au|chez|en|bei|am|um|con|da|em|no|na)\b)"
    r"(?!(?<=basta)\s+che\b)"
)
_NOT_INTERESTED = re.compile(
    r"\b(?:no thanks|no thank you|non merci|no gracias|no quiero(?: nada)?|non grazie|nein danke|"
    r"nao obrigad[oa]|not interested|no me interesa|ca m'interesse pas|ca ne m'interesse pas|pas interesse|"
    r"non mi interessa|kein interesse|nao tenho interesse|nao me interessa|nao quero)\b"
)


@lru_cache(maxsize=_MEMO)
def opt_out_level(text: str) -> OptOut:
    """EXPLICIT for a request to stop messaging, AMBIGUOUS for a joking "stop", else NONE."""
    folded = fold(text)
    for match in _OPT_OUT_PHRASE.finditer(folded):
        if not negated_at(folded, match.start()):
            return OptOut.EXPLICIT
    bare = " ".join(re.sub(r"[^\w\s']", " ", folded).split())
    playful = bool(_PLAYFUL.search(folded))
    if _STOP_ALONE.match(bare) and not playful:
        return OptOut.EXPLICIT
    if _STOP_OPENING.search(folded) or (playful and _STOP_BANTER.search(folded)):
        if _NOT_INTERESTED.search(folded) and not playful:
            return OptOut.EXPLICIT  # "basta, no me interesa"
        return OptOut.AMBIGUOUS
    return OptOut.NONE


def opts_out(text: str) -> bool:
    """The contact explicitly asks not to be messaged any more (the contact is stopped)."""
    return opt_out_level(text) is OptOut.EXPLICIT


# -- "are you a bot?" ------------------------------------------------------------------------

_GPT = r"chat\s?gpt|gpt|chatbot|bot|bots"
_BOT_EN = (
    rf"(?:{_GPT}|robot|ai|a\.i\.?|artificial intelligence|automated|program|machine|"
    r"auto[- ]?(?:reply|replies|response|responder|message|dm)|automatic (?:reply|response|message))"
)
_BOT_FR = rf"(?:{_GPT}|robot|ia|i\.a\.?|intelligence artificielle|programme|machine)"
_BOT_ES = rf"(?:{_GPT}|robot|ia|i\.a\.?|inteligencia artificial|programa|maquina)"
_BOT_IT = rf"(?:{_GPT}|robot|ia|i\.a\.?|intelligenza artificiale|programma|macchina)"
_BOT_DE = rf"(?:{_GPT}|roboter|robot|ki|k\.i\.?|ai|kunstliche intelligenz|programm|maschine)"
_BOT_PT = rf"(?:{_GPT}|robo|robot|ia|i\.a\.?|inteligencia artificial|programa|maquina)"
_BOT_ANY = (
    r"(?:bot|robot|robo|roboter|chatbot|chat\s?gpt|ia|ki|ai|machine|maquina|macchina|maschine)"
)
# "real" only as a whole answer: "are you real?", "r u real lol", "eres real o no";
# never "are you a real photographer?" or "are you for real?".
# "…you or an assistant?": somebody other than the persona doing the typing.
_ASSISTANT = rf"(?:(?:ai\s+|virtual\s+|personal\s+)?assistant|{_BOT_EN})"
_OR_ASSISTANT = (
    r"(?:\s+(?:typing|writing|texting|replying|answering|responding|yourself|personally))?"
    rf"\s+or\s+(?:to\s+|with\s+)?(?:an?\s+|your\s+|some\s+|just\s+an?\s+)?{_ASSISTANT}(?!\w)"
)
_ALONE = r"(?=\s*(?:$|[^\w\s'-]|or\b|ou\b|o\b|oder\b|lol\b|tho\b|though\b|rn\b|haha|right\b|pas\b|no\b|nao\b))"
BOT_QUESTION = _any(
    [
        # en
        rf"\b(?:are|r|ar)\s+(?:you|u|ya)\s+(?:an?\s+|like\s+an?\s+|actually\s+|really\s+|even\s+|just\s+)?(?:real\s+|actual\s+)?{_BOT_EN}(?!\w)",
        rf"\b(?:are|r)\s+(?:you|u|ya)\s+(?:(?:an?|actually|really|even|just|like)\s+)*(?:human|real|real person|actual person|real human|actual human|person){_ALONE}",
        rf"\b(?:is this|is that|is it|this is|it'?s|its)\s+(?:an?\s+|just\s+an?\s+)?{_BOT_EN}(?!\w)(?!\s*(?:generated|gen|edited|made|art|image|photo|pic|enhanced|edit))",
        r"\b(?:is (?:this|that|it)|it'?s|its)\s+really\s+(?:you|u)\b(?!\s+in\b)",
        # "is this actually you typing or an assistant?", "is it you or an AI typing",
        # "am I talking to you or to a program"
        rf"\b(?:is (?:this|that|it)|it'?s|its)\s+(?:(?:actually|really|even|just|still)\s+)?(?:you|u){_OR_ASSISTANT}",
        r"\b(?:is (?:this|that|it)|it'?s|its)\s+(?:(?:actually|really|even)\s+)?(?:you|u)\s+(?:typing|writing|texting|replying|answering|responding)\b",
        rf"\b(?:am i|are we|r we)\s+(?:(?:really|actually)\s+)?(?:talking|chatting|speaking|texting|writing|messaging)\s+(?:to|with)\s+(?:you|u){_OR_ASSISTANT}",
        rf"\b(?:am i|are we|r we)\s+(?:talking|chatting|speaking|texting|writing|messaging)\s+(?:to|with)\s+(?:an?\s+)?(?:real\s+|actual\s+)?(?:{_BOT_EN}|human|person|people)(?!\w)",
        r"\b(?:you'?re|youre|ur|you are|u r|u are)\s+(?:an?\s+|just\s+an?\s+)?(?:bot|robot|chatbot|chat\s?gpt|ai)(?!\w)",
        r"\b(?:real(?:\s+person)?|human|person|you|u)\s+or\s+(?:an?\s+)?(?:bot|robot|chatbot|chat\s?gpt|ai)\s*(?:$|[^\w\s'])",
        r"\b(?:bot|robot|chatbot|ai)\s+or\s+(?:an?\s+)?(?:real person|human|actual human|actual person|not|nah)\b",
        r"(?:^|[.,!?]\s*)(?:u|you|ya)\s+(?:an?\s+)?(?:bot|robot|chatbot|ai)(?!\w)",
        r"(?:^|[.,!?]\s*)(?:u|you|ya)\s+(?:an?\s+)?(?:real person|real human|human|real)" + _ALONE,
        r"\b(?:run|managed|written|answered|operated|handled|controlled)\s+by\s+(?:an?\s+)?(?:ai|bot|robot|chat\s?gpt|machine)\b",
        r"\b(?:is (?:someone|somebody|anyone)|is there (?:someone|anyone|somebody))\s+(?:actually\s+|really\s+)?(?:reading|behind|answering|replying)\b",
        r"\b(?:feels|sounds|reads)\s+like\s+(?:an?\s+)?(?:bot|robot|chatbot|chat\s?gpt|ai)\b",
        r"\b(?:chat\s?gpt|a bot|an ai|a robot)\s+(?:wrote|writes|is writing|is answering|answers|replies|is replying)\b",
        r"^(?:bot|robot|robo|chatbot|ai|ia|ki)\s*\?+\W*$",
        # fr
        rf"\b(?:t'?\s?es|tu es|es[- ]tu|vous etes|etes[- ]vous)\s+(?:un\s+|une\s+|vraiment\s+|genre\s+)*(?:{_BOT_FR}|vraie personne|vrai humain|humain|humaine)(?!\w)",
        r"\b(?:t'?\s?es|tu es|es[- ]tu|vous etes|etes[- ]vous)\s+(?:vraiment\s+)?(?:reel|reelle|vraie|vrai)"
        + _ALONE,
        rf"\bc'?\s?est\s+(?:un|une)\s+(?:vrai\s+|vraie\s+)?{_BOT_FR}(?!\w)",
        r"\bc'?\s?est\s+(?:automatique|automatise|un message automatique)\s*\?",
        r"\b(?:y'?\s?a|il y a)\s+quelqu'un\s+(?:derriere|qui (?:repond|ecrit|lit))",
        r"\b(?:une vraie personne|une personne|un humain|une ia|un bot|un robot)\s+qui\s+(?:repond|ecrit)\b",
        rf"\bc'?\s?est\s+(?:{_GPT}|une? (?:ia|robot|machine))\s+qui\s+(?:repond|ecrit|parle)",
        rf"\bje (?:parle|discute|cause|ecris)\s+(?:a|avec)\s+(?:un|une)\s+(?:{_BOT_FR}|vraie personne|vrai humain|humain|humaine|personne reelle)(?!\w)",
        # es
        rf"\b(?:eres|sos|tu eres)\s+(?:un\s+|una\s+)?(?:{_BOT_ES}|humano|humana|persona real|una persona real)(?!\w)",
        r"\b(?:eres|sos|tu eres)\s+(?:real|de verdad|una persona)" + _ALONE,
        rf"\bes\s+(?:un|una)\s+{_BOT_ES}(?!\w)",
        rf"\b(?:estoy|estoy yo)\s+hablando\s+con\s+(?:un|una)\s+(?:{_BOT_ES}|persona|humano|humana|persona real)(?!\w)",
        rf"\bhablo con (?:un|una)\s+(?:{_BOT_ES}|persona|humano|persona real)(?!\w)",
        r"\b(?:una persona|un humano|una ia|un bot|un robot)(?: real| de verdad)?\s+(?:la que|el que|que)\s+(?:responde|escribe|contesta)\b",
        # it
        rf"\b(?:sei|ma sei|tu sei)\s+(?:un\s+|una\s+|un'\s?)?(?:{_BOT_IT}|umano|umana|persona vera|persona reale)(?!\w)",
        r"\b(?:sei|ma sei|tu sei)\s+(?:vera|vero|reale)" + _ALONE,
        rf"\be\s+(?:un|una|un')\s*{_BOT_IT}(?!\w)",
        r"\b(?:una persona|un umano|una ia|un bot|un robot)(?: vera| reale)?\s+(?:a rispondere|che risponde|a scrivere|che scrive)\b",
        rf"\bsto\s+(?:parlando|scrivendo|chattando)\s+con\s+(?:un|una|un')\s*(?:{_BOT_IT}|persona|umano|persona vera|persona reale)(?!\w)",
        # de
        rf"\b(?:bist du|biste|sind sie)\s+(?:ein\s+|eine\s+|wirklich\s+)?(?:{_BOT_DE}|mensch|eine echte person|echte person|ein echter mensch|echter mensch)(?!\w)",
        r"\b(?:bist du|biste|sind sie)\s+(?:wirklich\s+)?(?:echt|real)" + _ALONE,
        rf"\bist das\s+(?:ein|eine)\s+{_BOT_DE}(?!\w)",
        r"\b(?:schreibt|antwortet|chattet)\s+(?:hier\s+|da\s+|mir\s+)?(?:eine|ein)\s+(?:ki|bot|roboter|mensch)\b",
        rf"\b(?:rede|schreibe|schreib|spreche|chatte|bin)\s+ich\s+(?:(?:hier|gerade|grad|echt)\s+)*mit\s+(?:einem|einer|nem|ner)\s+(?:{_BOT_DE}|mensch|menschen|maschine|echten person|echten menschen)(?!\w)",
        # pt
        rf"\b(?:voce|vc|tu)\s+(?:e|eh|es)\s+(?:um\s+|uma\s+)?(?:{_BOT_PT}|humano|humana|pessoa real|uma pessoa real)(?!\w)",
        r"\b(?:voce|vc|tu)\s+(?:e|eh|es)\s+(?:real|de verdade)" + _ALONE,
        rf"(?:^|\b(?:isso|isto|aqui)\s+)e\s+(?:(?:um|uma)\s+{_BOT_PT}(?!\w)|(?:robo|robot|bot|chatbot)\s*\?)",
        r"\b(?:uma pessoa|um humano|uma ia|um bot|um robo)(?: real| de verdade)?\s+que\s+(?:responde|escreve)\b",
        rf"\b(?:estou|to|tou|eu to|eu estou)\s+(?:falando|conversando)\s+com\s+(?:um|uma)\s+(?:{_BOT_PT}|pessoa|humano|pessoa real)(?!\w)",
        # "…or a bot?" in fr es it de pt
        rf"\b(?:ou|o|oder)\s+(?:un|una|une|um|uma|ein|eine)?\s*{_BOT_ANY}\s*(?:$|[^\w\s'])",
    ]
)


def asks_if_bot(text: str) -> bool:
    """The contact asks whether they are talking to a bot, an AI or a real person."""
    return bool(BOT_QUESTION.search(fold(text)))


# -- "can I talk to a human?" ----------------------------------------------------------------

_PERSON_EN = r"(?:an?\s+)?(?:real\s+|actual\s+|live\s+)?(?:human|person|human being|agent|operator|someone real|somebody real)"
HUMAN_REQUEST = _any(
    [
        # en
        rf"\b(?:can|could|may)\s+i\s+(?:please\s+)?(?:talk|speak|chat)\s+(?:to|with)\s+{_PERSON_EN}(?!\w)",
        rf"\b(?:want|wanna|need|would like|'d like|id like)\s+(?:to\s+)?(?:talk|speak|chat)\s+(?:to|with)\s+{_PERSON_EN}(?!\w)",
        rf"\blet me\s+(?:talk|speak|chat)\s+(?:to|with)\s+{_PERSON_EN}(?!\w)",
        rf"\b(?:get|give|put|connect|transfer)\s+me\s+(?:to\s+|with\s+|through to\s+)?{_PERSON_EN}(?!\w)",
        rf"\bis there\s+{_PERSON_EN}(?=\s*(?:$|[^\w\s']|i can|to talk|here|there|behind|reading|on the other))",
        rf"\bcan\s+{_PERSON_EN}\s+(?:reply|answer|respond|read|help|take over)\b",
        rf"\bi need\s+{_PERSON_EN}(?=\s*(?:$|[^\w\s']|please|pls|now))",
        # fr
        r"\b(?:je veux|jveux|je voudrais|j'aimerais|je peux|puis-je|est-ce que je peux|on peut|je pourrais)\s+(?:parler|discuter)\s+(?:a|avec)\s+(?:un|une|quelqu'un de)\s+(?:vrai\s+|vraie\s+)?(?:humain|humaine|personne|conseiller|conseillere|agent|reel)(?!\w)",
        r"\bpasse[sz]?[- ]moi\s+(?:un|une)\s+(?:vrai\s+|vraie\s+)?(?:humain|humaine|personne)(?!\w)",
        r"\by'?\s?a[- ]t[- ]il\s+un\s+humain\b|\by'?\s?a\s+(?:un humain|une vraie personne|quelqu'un de (?:vrai|reel))(?=\s*(?:$|[^\w\s']|qui|derriere))",
        # es
        r"\b(?:quiero|puedo|podria|quisiera|me gustaria)\s+hablar\s+con\s+(?:un|una|alguien)\s*(?:persona|humano|humana|real|agente|de verdad)(?!\w)",
        r"\bhay\s+(?:alguien real|algun humano|un humano|una persona real)\b",
        # it
        r"\bc'?\s?e\s+(?:un|una|qualche)\s+(?:umano|umana|persona vera|persona reale|essere umano|operatore)(?!\w)",
        r"\b(?:posso|voglio|vorrei|potrei)\s+parlare\s+con\s+(?:un|una|un')\s*(?:umano|umana|persona|persona vera|persona reale|operatore|essere umano)(?!\w)",
        # de
        r"\b(?:kann|darf|will|mochte|konnte)\s+ich\s+(?:bitte\s+)?(?:mal\s+)?mit\s+(?:einem|einer|nem)\s+(?:echten\s+)?(?:menschen|mensch|person|mitarbeiter)\s+(?:sprechen|reden|schreiben|chatten)",
        r"\bich\s+(?:will|mochte|wurde gern|brauche)\s+(?:gern\s+|gerne\s+|bitte\s+)?mit\s+(?:einem|einer)\s+(?:echten\s+)?(?:menschen|mensch|person)\s+(?:sprechen|reden|schreiben)",
        r"\bgibt es (?:hier )?(?:einen|ein|eine) (?:echten )?(?:menschen|mensch|person)\b",
        # pt
        r"\b(?:quero|posso|queria|gostaria de|da pra)\s+falar\s+com\s+(?:um|uma|alguem)\s*(?:pessoa|humano|humana|pessoa real|atendente|de verdade|real)(?!\w)",
        r"\btem\s+(?:alguem|algum humano|uma pessoa)\s+(?:real|de verdade)\b",
    ]
)


@lru_cache(maxsize=_MEMO)
def asks_for_human(text: str) -> bool:
    """The contact asks to be handed to a human ("can I talk to a real person?").

    Separate from `asks_if_bot`: "are you a bot?" is a question about dmpilot, answered
    with the disclosure line; this is a request for a handoff.
    """
    return bool(HUMAN_REQUEST.search(fold(text)))


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

_BOT_WORDS = r"(?:bot|robot|chatbot|ai|a\.i\.?|ia|ki|robo|roboter|automated|automatic)"

# For a bot's own draft any denial of being a bot is a claim to be human ("not a bot lol",
# "not some program", "no AI here"); a denial about a photo is not ("not AI generated").
_NOT_ABOUT_A_PHOTO = (
    r"(?!-|\s*(?:generated|gen|edited|made|art|image|images|photo|photos|pic|pics|enhanced|edit|"
    r"edits|filters?|tools?|presets?|upscaled|generee?s?|retouchee?s?|generad[oa]s?|generat[oi]|"
    r"generiert|bearbeitet|gerad[oa]s?|editad[oa]s?|bild|bilder|foto|fotos)\b)"
)
_BOT_STRONG = r"(?:bots?|robots?|chatbots?|chat\s?gpt|gpt|ai|a\.i\.?)"

HUMAN_CLAIM = _any(
    [
        # en: "not a bot lol", "it's really me typing, not some program", "no AI here"
        rf"\bnot\s+(?:just\s+|even\s+)?(?:an?\s+|some\s+|any\s+)?{_BOT_STRONG}(?!\w){_NOT_ABOUT_A_PHOTO}",
        r"\bnot\s+(?:just\s+)?some\s+(?:program|script|machine|software|app|algorithm|robot)\b",
        r"\bno\s+(?:bots?|robots?|chatbots?|ai|a\.i\.?|programs?|machines?)\s+(?:here|typing|answering|replying|on (?:this|my) (?:end|side))\b",
        r"\b(?:it'?s|its|this is)\s+(?:really\s+|actually\s+|just\s+|only\s+|truly\s+|definitely\s+)?me\s+(?:typing|writing|replying|answering|texting|behind)\b",
        rf"\b(?:i'?m|i am|im)\s+not\s+(?:a\s+|an\s+)?(?:{_BOT_WORDS}|machine|program)\b",
        r"\b(?:i'?m|i am|im)\s+(?:a\s+)?(?:real|human|real person|actual person|real human|"
        r"human being|real girl|real guy|real woman|real man)\b",
        r"\b(?:100%|totally|definitely|very much)\s+(?:real|human)\b",
        r"\bno bots? here\b",
        r"\bje suis (?:une |un )?(?:vraie personne|vrai humain|humain|humaine|reel|reelle)\b",
        rf"\bje ne suis pas (?:un |une )?(?:{_BOT_WORDS}|machine)\b",
        rf"\b(?:pas|jamais|aucun|aucune) (?:un |une )?(?:{_BOT_WORDS}|chatbot|chatgpt|programme)\b{_NOT_ABOUT_A_PHOTO}",
        r"\bpas (?:de |d'\s?)(?:bots?|robots?|ia|chatbot)\s+ici\b",
        r"\bc'?\s?est\s+(?:vraiment\s+|bien\s+)?moi\s+qui\s+(?:ecris|reponds|tape)\b",
        r"\bsoy (?:una |un )?(?:persona real|humano|humana|real)\b",
        rf"\bno soy (?:un |una )?(?:{_BOT_WORDS}|maquina|programa|chatbot)\b",
        rf"\b(?:no es|ningun|ninguna|nada de|ni) (?:un |una )?(?:bots?|robots?|chatbots?|ia|chatgpt)\b{_NOT_ABOUT_A_PHOTO}",
        r"\bno hay (?:ningun |ninguna )?(?:bots?|robots?|ia|programa)\s+(?:aqui|aca|detras)\b",
        r"\bsono (?:una |un )?(?:persona vera|persona reale|umano|umana|reale)\b",
        rf"\bnon sono (?:un |una |un')?(?:{_BOT_WORDS}|macchina|programma|chatbot)\b",
        rf"\b(?:non e|nessun|nessuna|niente) (?:un |una |un')?(?:bots?|robot|chatbot|ia|chatgpt)\b{_NOT_ABOUT_A_PHOTO}",
        r"\bnon c'?\s?e (?:nessun |nessuna |un |una )?(?:bot|robot|ia)\b",
        r"\bich bin (?:ein |eine )?(?:mensch|echter mensch|echte person)\b",
        r"\bich bin (?:kein|keine) (?:bot|roboter|ki|maschine|programm|chatbot)\b",
        rf"\b(?:kein|keine|keinen|nicht)\s+(?:ein\s+|eine\s+)?(?:bot|bots|roboter|ki|chatbot|chatgpt)\b{_NOT_ABOUT_A_PHOTO}",
        r"\bsou (?:uma |um )?(?:pessoa real|humano|humana|real)\b",
        rf"\bnao sou (?:um |uma )?(?:{_BOT_WORDS}|maquina|programa|chatbot)\b",
        rf"\b(?:nao e|nenhum|nenhuma|nada de) (?:um |uma )?(?:bots?|robos?|robot|chatbot|ia|chatgpt)\b{_NOT_ABOUT_A_PHOTO}",
        r"\bnao (?:tem|ha) (?:nenhum |nenhuma )?(?:bots?|robos?|ia|programa)\s+aqui\b",
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
