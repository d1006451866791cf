"""What a contact has told us about themselves, so replies never ask it again.

The system dmpilot replaces asked "where are you from?" of people who had said so a few
messages earlier. `extract_facts` reads a contact's message for their name, city, job,
interests and age; `asks_about` tells which of those a drafted reply asks; `merge` and
`describe_known` keep the facts and render them for the prompt.

Precision comes first: a fact shown to the model as known stops it from asking, so a
wrong one ("name: Tired") is worse than a missed one. Every fact needs an explicit
first-person phrase ("my name is", "je viens de", "ich arbeite als") and a value that
passes a check for its kind: a place is capitalised or a known place, a job or an
interest is a known word, an age is 18-99 and not followed by a unit. As in `safety`,
phrases match whole words on a folded copy (lowercase, no accents) in English, French,
Spanish, Italian, German and Portuguese; values are cut from the original text.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

MAX_VALUE = 60
MAX_INTERESTS = 3


class FactKind(StrEnum):
    NAME = "name"
    CITY = "city"
    JOB = "job"
    INTEREST = "interest"
    AGE = "age"


@dataclass(frozen=True, slots=True)
class Fact:
    kind: FactKind
    value: str


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _phrases(text: str) -> frozenset[str]:
    """Comma-separated entries that may hold spaces ("new york, le havre")."""
    return frozenset(p.strip() for p in text.split(",") if p.strip())


def _compile(patterns: Iterable[str]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


# -- folding with offsets --------------------------------------------------------------------
# Rules match on a folded copy; values are cut from the original, so every folded
# character remembers the original character it came from.

_COMBINING = re.compile(r"[\u0300-\u036f]")
_APOSTROPHES = frozenset("'’‘`´ʼ")
# English contractions stay in the word ("teacher's" is not "teacher"); a French or
# Italian elision does not ("d'Avignon" is "d" + "Avignon").
_TOKEN = re.compile(r"[^\W_]+(?:-[^\W_]+)*(?:'(?:s|t|re|ll|ve|d|m)\b)?")


@lru_cache(maxsize=2048)  # a message is a few dozen characters, most of them repeats
def _fold_char(ch: str) -> str:
    if ch in _APOSTROPHES:
        return "'"
    if ch.isspace():
        return " "
    return _COMBINING.sub("", unicodedata.normalize("NFKD", ch.casefold()))


@dataclass(frozen=True, slots=True)
class _Token:
    start: int  # offsets in the folded text
    end: int
    word: str  # folded
    raw: str  # as written


def _fold_with_origin(text: str) -> tuple[str, list[int]]:
    """The folded text (accents off, lowercase, one apostrophe, single inner spaces) and,
    for each of its characters, the index of the original character it came from."""
    return _fold_ascii(text) if text.isascii() else _fold_each(text)


def _fold_each(text: str) -> tuple[str, list[int]]:
    """Any text, a character at a time (one may fold to several: "ß" is "ss")."""
    chars: list[str] = []
    origin: list[int] = []
    for index, ch in enumerate(text):
        for folded in _fold_char(ch):
            if folded == " " and (not chars or chars[-1] == " "):
                continue
            chars.append(folded)
            origin.append(index)
    if chars and chars[-1] == " ":
        chars.pop()
        origin.pop()
    return "".join(chars), origin


# ASCII folds one character to one: a table instead of a loop (most messages are ASCII).
_ASCII_FOLD = {
    code: " " if chr(code).isspace() else "'" if chr(code) in _APOSTROPHES else chr(code).lower()
    for code in range(128)
}


def _fold_ascii(text: str) -> tuple[str, list[int]]:
    folded = text.translate(_ASCII_FOLD)
    # A space is kept after a kept non-space only: no leading or doubled spaces.
    origin = [i for i, ch in enumerate(folded) if ch != " " or (i and folded[i - 1] != " ")]
    if origin and folded[origin[-1]] == " ":
        origin.pop()
    return "".join([folded[i] for i in origin]), origin


class _Text:
    """A message folded for matching, with its tokens mapped back to the original."""

    def __init__(self, text: str) -> None:
        self.original = text
        self.folded, origin = _fold_with_origin(text)
        self.origin = origin
        self.tokens: list[_Token] = []
        self._raw: list[tuple[int, int]] = []
        for m in _TOKEN.finditer(self.folded):
            raw_start = origin[m.start()]
            raw_end = origin[m.end() - 1] + 1
            while raw_end < len(text) and unicodedata.combining(text[raw_end]):
                raw_end += 1  # an accent typed as a separate mark belongs to its letter
            self.tokens.append(_Token(m.start(), m.end(), m.group(), text[raw_start:raw_end]))
            self._raw.append((raw_start, raw_end))
        self._starts = [t.start for t in self.tokens]
        words = [t.raw for t in self.tokens if t.raw[:1].isalpha()]
        letters = [c for c in text if c.isalpha()]
        # ALL CAPS or Every Word Capitalised: capitals then say nothing about names.
        self.case_blind = (len(letters) >= 4 and not any(c.islower() for c in letters)) or (
            len(words) >= 4 and all(w[0].isupper() for w in words)
        )

    def index_at(self, pos: int) -> int:
        """Index of the first token that starts at or after folded offset `pos`."""
        return bisect_left(self._starts, pos)

    def word(self, i: int) -> str:
        return self.tokens[i].word if 0 <= i < len(self.tokens) else ""

    def gap(self, i: int) -> str:
        """Folded text between token i-1 and token i (or the end of the text)."""
        before = self.tokens[i - 1].end if i > 0 else 0
        after = self.tokens[i].start if i < len(self.tokens) else len(self.folded)
        return self.folded[before:after]

    def joined(self, i: int) -> bool:
        """Token i exists and continues the clause of token i-1."""
        return i < len(self.tokens) and self.gap(i) in (" ", "'", " '", "' ", "")

    def alpha(self, i: int) -> bool:
        """Token i is a word of letters (hyphens and elisions allowed), not a number."""
        return (
            i < len(self.tokens) and self.tokens[i].word.replace("-", "").replace("'", "").isalpha()
        )

    def capitalised(self, i: int) -> bool:
        return not self.case_blind and self.tokens[i].raw[:1].isupper()

    def span(self, first: int, last: int) -> str:
        """The original text from token `first` through token `last`, spaces tidied."""
        return " ".join(self.original[self._raw[first][0] : self._raw[last][1]].split())


def _starts_clean(t: _Text, pos: int, i: int) -> bool:
    """Nothing but spaces, a colon or quotes between a trigger and its value."""
    if i >= len(t.tokens):
        return False
    return re.fullmatch(r"[\s:'\"«“”-]*", t.folded[pos : t.tokens[i].start]) is not None


# ("ja" and "ya" are not here: German "yes", Spanish "already".)
_NEGATORS = _words("no non nao not never nunca mai jamais nie nicht pas ne")


def _negated(t: _Text, pos: int) -> bool:
    """A negation right before a trigger: "no soy médico", "non sono di Roma" (but not
    "no, I live in Paris")."""
    last = re.search(r"([^\W_]+)'? *$", t.folded[max(0, pos - 20) : pos])
    return last is not None and last.group(1) in _NEGATORS


def _clip(value: str) -> str:
    if len(value) <= MAX_VALUE:
        return value
    cut = value[:MAX_VALUE]
    space = cut.rfind(" ")
    return (cut[:space] if space > MAX_VALUE // 2 else cut).rstrip(" ,")


_LOWER_PARTICLES = _words(
    "de du des la le les en sur sous di da do dos das del della dello delle am an der den "
    "im von van y e et upon on"
)


def _tidy_case(value: str, case_blind: bool) -> str:
    """'lyon' → 'Lyon', 'aix-en-provence' → 'Aix-en-Provence'; 'McKenzie', 'UK' kept."""
    letters = [c for c in value if c.isalpha()]
    if not letters:
        return value
    if any(c.isupper() for c in letters) and not (case_blind and len(letters) > 3):
        return value

    def part(word: str, first: bool) -> str:
        if not first and word.casefold() in _LOWER_PARTICLES:
            return word.lower()
        pieces = re.split(r"(['’])", word.lower())
        return "".join(p[:1].upper() + p[1:] for p in pieces)

    out: list[str] = []
    for w_index, word in enumerate(value.split(" ")):
        hyphens = word.split("-")
        out.append(
            "-".join(part(h, w_index == 0 and h_index == 0) for h_index, h in enumerate(hyphens))
        )
    return " ".join(out)


# -- word lists (folded: lowercase, no accents) ----------------------------------------------

_ARTICLES = _words(
    "the a an le la les l un une el los las lo il i gli uno der die das dem den des ein eine "
    "einen einem einer o os as um uma"
)
# Contractions with an article: what follows them is a common noun unless it is a known
# place ("je viens du boulot" but "je viens du Canada").
_ARTICLE_CONTRACTIONS = _words("du des au aux del al dal dalla dallo dalle dai nel nella im vom")
_CONJUNCTIONS = _words("and & or but et ou mais y o pero e ma und oder aber mas")
_SECOND_PERSON = _words(
    "you your yours you're u ur ya yourself toi te t ton ta tes vous votre vos ti tuo tua "
    "tuoi tue tu tus tuyo tuya contigo usted vos dich dir dein deine deinen deinem deiner "
    "euch sie voce vc voces teu tua seu sua seus suas teus tuas"
)
# Words that are not names although they follow "I'm" or "me llamo" ("I'm Tired",
# "me llamó la atención", "call me Maybe").
_NOT_NAMES = _words(
    # en
    "i me my you your he she it we they the a an this that so very really just not no "
    "yes ok okay fine good great well bad tired sleepy bored busy free single married "
    "taken happy sad glad excited sorry late early done ready sure here there back home "
    "new old young sick ill hungry cold hot alive dead awake lost confused curious serious "
    "kidding joking going gonna getting trying looking thinking working coming leaving "
    "also too still always never only like literally actually honestly currently now "
    "from in on at out up down off of for with about into over under away around "
    "cool nice funny shy lucky blessed obsessed dying crying laughing fan human real bot "
    "male female man woman guy girl boy lady mom dad mum mother father wife husband "
    "maybe later tomorrow today tonight sometime anytime anything whatever what when "
    "why how who baby babe darling honey crazy back soon anyway tho though btw lol haha "
    "omg wow yeah yep nope hey hi hello bro dude sir madam miss mister mr mrs ms "
    "fine alright everything nothing something someone nobody everyone definitely "
    "probably totally absolutely basically seriously finally lonely lovely friendly "
    "ugly silly pretty beautiful handsome cute hot sexy shy straight gay bi vegan "
    "vegetarian christian muslim jewish catholic aries taurus gemini cancer virgo "
    "libra scorpio sagittarius capricorn aquarius pisces sober drunk high broke rich "
    "poor safe alone together okey dokey sweet hungover jealous nervous scared afraid "
    "impressed interested honored honoured flattered speechless as our ours their his its"
    # fr
    " je moi tu toi il elle on nous vous ils elles la le les un une des du de en au aux "
    "a ici la-bas dispo libre occupe occupee content contente fatigue fatiguee creve "
    "crevee heureux heureuse triste malade sur sure pas trop tres hyper grave vraiment "
    "tellement seul seule celibataire mariee nouveau nouvelle pret prete bien mal "
    "perdu perdue curieux curieuse desole desolee mort morte dans sous avec chez pour "
    "toujours jamais encore deja aussi juste que qui quoi pareil moi-meme ravi ravie "
    "enchante enchantee fan debout couche couchee rentre rentree parti partie sorti "
    "genial cool nul nulle retour accord fier fiere jaloux jalouse timide calme pareille "
    "comme mes mon ma nos notre leur leurs"
    # es
    " yo tu el nosotros feliz cansado cansada bien mal aqui alli alla listo lista "
    "contento contenta soltero soltera casado casada nuevo nueva libre ocupado ocupada "
    "muy tan super tambien todavia siempre nunca solo sola humano humana persona mucho "
    "encantado encantada aburrido aburrida enamorado enamorada tranquilo tranquila "
    "la el los las un una del al de en con por para asi eso esto mismo misma como mis "
    "nuestro nuestra"
    # it
    " io lui lei noi voi stanco stanca felice qui qua li pronto pronta libero libera "
    "occupato occupata contento contenta sposato sposata molto tanto davvero anche "
    "ancora sempre mai di del della un una uno il lo gli nel in a da con per su "
    "innamorato innamorata tranquillo tranquilla annoiato annoiata pazzo pazza come nostro "
    "nostra"
    # de
    " ich du er sie es wir ihr mude muede hier da zuhause daheim fertig bereit glucklich "
    "traurig froh krank gut neu ledig verheiratet so sehr echt total nicht kein keine "
    "ein eine der die das aus in zu auch noch schon wieder gerade jetzt sicher zuruck "
    "wach allein verliebt mama papa mutter vater oma opa neugierig gespannt dabei "
    "unterwegs online wirklich ganz voll mega krass bald gleich wie mein meine unser unsere"
    # pt
    " eu voce vc ele ela nos feliz cansado cansada aqui ai la pronto pronta livre "
    "ocupado ocupada triste contente solteiro solteira casado casada muito tao super "
    "novo bem mal de do da um uma em no na com para tambem sempre nunca sozinho "
    "sozinha apaixonado apaixonada tranquilo tranquila daqui como meu minha meus minhas "
    "nosso nossa"
)
_NATIONALITIES = _words(
    "french english british american italian spanish german portuguese brazilian mexican "
    "canadian irish scottish welsh dutch belgian swiss austrian polish russian chinese "
    "japanese korean indian greek turkish moroccan algerian tunisian african european "
    "latina latino asian arab australian argentinian colombian venezuelan peruvian "
    "chilean cuban francais francaise anglais anglaise americain americaine italien "
    "italienne espagnol espagnole allemand allemande portugais portugaise bresilien "
    "bresilienne belge suisse marocain marocaine algerien algerienne tunisien tunisienne "
    "canadien canadienne quebecois quebecoise espanol espanola mexicano mexicana "
    "argentino argentina colombiano colombiana venezolano venezolana peruano peruana "
    "chileno chilena cubano cubana italiano italiana aleman alemana frances francesa "
    "ingles inglesa portugues portuguesa brasileno brasilena tedesco tedesca francese "
    "inglese spagnolo spagnola portoghese brasiliano brasiliana deutsch deutsche "
    "deutscher franzose franzosin italiener italienerin spanier spanierin osterreicher "
    "osterreicherin schweizer schweizerin brasilianer brasilianerin brasileiro brasileira "
    "alemao alema espanhol espanhola americano americana europeu europeia"
)
# Capitalised words that still are not places ("I'm from Instagram").
_NOT_PLACES = _NOT_NAMES | _words(
    "instagram insta ig facebook fb tiktok twitter reddit youtube google tinder bumble "
    "snapchat work school college uni university office job gym church hospital bed "
    "future past nowhere everywhere somewhere earth planet mars space heaven hell "
    "boulot travail taf ecole fac bureau salle maison retour passage accord fretta "
    "trabajo escuela oficina gimnasio casa lavoro scuola ufficio palestra arbeit schule "
    "buro buero uni fitnessstudio urlaub nahe naehe stadt wohnung haus frieden ruhe "
    "zukunft trabalho escola escritorio academia interior paz boa versehen spass spas liebe "
    "langeweile neugier prinzip gewohnheit zufall witz uberzeugung erfahrung"
)

# Places known well enough to accept in lowercase ("i'm from lyon") or after an
# article ("from the UK", "du Canada", "aus der Schweiz").
_PLACES = _phrases(
    # countries and regions
    "france, frankreich, francia, franca, spain, espagne, espana, spagna, spanien, "
    "espanha, italy, italie, italia, italien, germany, allemagne, alemania, germania, "
    "deutschland, alemanha, portugal, portogallo, brazil, bresil, brasil, brasile, "
    "brasilien, uk, united kingdom, england, angleterre, inglaterra, inghilterra, "
    "scotland, ecosse, escocia, scozia, schottland, wales, ireland, irlande, irlanda, "
    "irland, usa, us, united states, america, etats-unis, estados unidos, stati uniti, "
    "amerika, canada, kanada, mexico, mexique, messico, mexiko, argentina, argentine, "
    "argentinien, chile, chili, colombia, colombie, kolumbien, peru, perou, venezuela, "
    "uruguay, ecuador, bolivia, paraguay, cuba, belgium, belgique, belgica, belgio, "
    "belgien, switzerland, suisse, suiza, svizzera, schweiz, suica, austria, autriche, "
    "osterreich, netherlands, holland, pays-bas, paises bajos, olanda, niederlande, "
    "holanda, poland, pologne, polonia, polen, greece, grece, grecia, griechenland, "
    "morocco, maroc, marruecos, marocco, marokko, marrocos, algeria, algerie, argelia, "
    "tunisia, tunisie, senegal, australia, australie, australien, japan, japon, "
    "giappone, japao, china, chine, cina, india, inde, indien, sweden, suede, suecia, "
    "svezia, schweden, norway, norvege, noruega, norvegia, norwegen, denmark, danemark, "
    "dinamarca, danimarca, finland, finlande, russia, russie, rusia, russland, turkey, "
    "turquie, turquia, turchia, turkei, romania, roumanie, rumania, rumanien, angola, "
    "mozambique, mocambique, cabo verde, cape verde, luxembourg, luxemburgo, luxemburg, "
    "quebec, corsica, corse, sicily, sicile, sicilia, sizilien, sardinia, sardaigne, "
    "sardegna, bretagne, brittany, normandie, normandy, provence, alsace, bavaria, "
    "bayern, toscana, tuscany, toscane, catalonia, catalogne, cataluna, catalunya, "
    "andalucia, andalousie, galicia, bahia, minas gerais, nordeste, algarve, madeira, "
    "azores, acores, tirol, tyrol, nord, sud, sud-ouest, california, texas, florida, "
    "puglia, calabria, sardinien, lombardia, veneto, piemonte, ruhrgebiet, "
    # cities
    "paris, lyon, marseille, toulouse, nice, nantes, strasbourg, montpellier, bordeaux, "
    "lille, rennes, reims, toulon, grenoble, dijon, angers, nimes, brest, limoges, "
    "amiens, perpignan, metz, besancon, orleans, rouen, caen, nancy, avignon, annecy, "
    "la rochelle, le havre, le mans, mans, saint-etienne, clermont-ferrand, "
    "aix-en-provence, biarritz, bayonne, poitiers, cannes, ajaccio, bastia, calais, "
    "lorient, vannes, quimper, chambery, troyes, mulhouse, colmar, brussels, bruxelles, "
    "bruselas, bruxelas, brussel, antwerp, anvers, ghent, gand, liege, namur, "
    "charleroi, geneva, geneve, ginebra, ginevra, genf, lausanne, zurich, basel, bale, "
    "bern, berne, lugano, montreal, toronto, vancouver, ottawa, madrid, barcelona, "
    "barcelone, valencia, sevilla, seville, zaragoza, malaga, murcia, palma, bilbao, "
    "alicante, cordoba, valladolid, vigo, gijon, granada, a coruna, la coruna, vitoria, "
    "santander, pamplona, san sebastian, donostia, salamanca, cadiz, tenerife, "
    "las palmas, ibiza, mallorca, marbella, toledo, buenos aires, rosario, mendoza, "
    "mexico city, ciudad de mexico, cdmx, guadalajara, monterrey, puebla, cancun, "
    "tijuana, bogota, medellin, cali, cartagena, barranquilla, lima, cusco, santiago, "
    "valparaiso, caracas, quito, guayaquil, montevideo, havana, la habana, habana, "
    "rome, roma, rom, milan, milano, mailand, naples, napoli, neapel, turin, torino, "
    "palermo, genoa, genova, bologna, bologne, florence, firenze, florenz, florencia, "
    "bari, catania, venice, venezia, venise, venedig, verona, messina, padova, padua, "
    "trieste, brescia, parma, modena, perugia, livorno, cagliari, rimini, pisa, "
    "bergamo, lecce, siena, sorrento, salerno, trento, bolzano, udine, ancona, pescara, "
    "berlin, hamburg, hambourg, hamburgo, amburgo, munich, munchen, muenchen, munique, "
    "cologne, koln, koeln, colonia, frankfurt, francfort, stuttgart, dusseldorf, "
    "leipzig, dortmund, bremen, dresden, dresde, hannover, hanover, nuremberg, "
    "nurnberg, duisburg, bochum, wuppertal, bonn, munster, mannheim, karlsruhe, "
    "augsburg, wiesbaden, freiburg, heidelberg, kiel, rostock, potsdam, mainz, aachen, "
    "regensburg, wurzburg, vienna, vienne, viena, wien, graz, linz, salzburg, "
    "innsbruck, lisbon, lisbonne, lisboa, lissabon, porto, oporto, braga, coimbra, "
    "faro, aveiro, funchal, setubal, sintra, cascais, sao paulo, rio, rio de janeiro, "
    "brasilia, salvador, fortaleza, belo horizonte, manaus, curitiba, recife, "
    "porto alegre, belem, goiania, florianopolis, floripa, natal, campinas, santos, "
    "niteroi, joao pessoa, maceio, luanda, maputo, london, londres, londra, edinburgh, "
    "manchester, liverpool, birmingham, glasgow, leeds, bristol, brighton, oxford, "
    "cambridge, dublin, belfast, cardiff, newcastle, sheffield, nottingham, new york, "
    "new york city, nyc, los angeles, san francisco, chicago, miami, boston, seattle, "
    "austin, houston, dallas, atlanta, denver, las vegas, san diego, washington, "
    "philadelphia, portland, nashville, new orleans, orlando, detroit, sydney, "
    "melbourne, brisbane, perth, auckland, tokyo, osaka, seoul, beijing, shanghai, "
    "hong kong, singapore, bangkok, bali, dubai, istanbul, athens, athenes, atenas, "
    "atene, athen, amsterdam, rotterdam, utrecht, copenhagen, copenhague, stockholm, "
    "oslo, helsinki, prague, praga, prag, budapest, warsaw, varsovie, varsovia, "
    "warschau, krakow, moscow, moscou, moscu, mosca, moskau, kyiv, kiev, bucharest, "
    "belgrade, zagreb, ljubljana, marrakech, marrakesh, casablanca, rabat, tanger, "
    "alger, algiers, tunis, dakar, abidjan, cairo, cape town, johannesburg, lagos, "
    "nairobi, tel aviv, beirut, beyrouth"
)
_PLACE_WORDS_MAX = 4

# Job nouns (all genders). German compounds end in one of them ("Softwareentwicklerin").
_JOBS = _words(
    # en
    "nurse doctor physician surgeon dentist vet veterinarian pharmacist paramedic midwife "
    "therapist physiotherapist physio psychologist psychiatrist teacher professor lecturer "
    "tutor student intern designer developer dev programmer coder engineer architect "
    "photographer videographer filmmaker editor writer author journalist blogger "
    "influencer creator musician singer dj producer artist painter illustrator animator "
    "actor actress dancer model chef cook baker butcher barista bartender waiter waitress "
    "server cashier accountant banker analyst consultant manager lawyer attorney "
    "paralegal secretary receptionist assistant translator interpreter electrician "
    "plumber carpenter mechanic builder firefighter cop policeman policewoman officer "
    "soldier pilot driver trucker trainer coach instructor hairdresser hairstylist "
    "stylist barber beautician esthetician florist gardener farmer librarian "
    "researcher scientist entrepreneur founder freelancer realtor salesman saleswoman "
    "caregiver carer nanny technician practitioner marketer recruiter copywriter "
    "nutritionist dietitian optician surveyor self-employed freelance retired"
    # fr
    " infirmier infirmiere medecin docteur docteure chirurgien chirurgienne dentiste "
    "veterinaire pharmacien pharmacienne sage-femme kine kinesitherapeute psychologue "
    "psy prof professeur professeure enseignant enseignante instit institutrice "
    "instituteur etudiant etudiante stagiaire graphiste developpeur developpeuse "
    "ingenieur ingenieure architecte photographe videaste monteur monteuse ecrivain "
    "ecrivaine redacteur redactrice journaliste musicien musicienne chanteur chanteuse "
    "artiste peintre illustrateur illustratrice acteur actrice comedien comedienne "
    "danseur danseuse mannequin cuisinier cuisiniere boulanger boulangere patissier "
    "patissiere serveur serveuse barman barmaid caissier caissiere comptable banquier "
    "banquiere consultant consultante avocat avocate secretaire assistante traducteur "
    "traductrice electricien plombier menuisier mecanicien macon pompier policier "
    "policiere gendarme militaire pilote chauffeur coach coiffeur coiffeuse "
    "estheticienne fleuriste jardinier agriculteur bibliothecaire chercheur chercheuse "
    "entrepreneuse auto-entrepreneur commercial commerciale vendeur vendeuse "
    "aide-soignant aide-soignante educateur educatrice fonctionnaire nounou "
    "animateur animatrice opticien opticienne"
    # es
    " medico medica enfermero enfermera doctora cirujano cirujana veterinario veterinaria "
    "farmaceutico farmaceutica fisioterapeuta psicologo psicologa profesor profesora "
    "maestro maestra estudiante disenador disenadora desarrollador desarrolladora "
    "programador programadora ingeniero ingeniera arquitecto arquitecta fotografo "
    "fotografa periodista escritor escritora musico musica cantante pintor pintora "
    "actor actriz bailarin bailarina modelo cocinero cocinera panadero panadera "
    "camarero camarera mesero mesera cajero cajera contador contadora abogado abogada "
    "secretaria traductor traductora electricista fontanero plomero carpintero mecanico "
    "bombero bombera policia piloto conductor chofer entrenador entrenadora peluquero "
    "peluquera vendedor vendedora investigador investigadora empresario empresaria "
    "funcionario funcionaria autonomo autonoma administrativo administrativa "
    "dependienta dependiente azafata"
    # it
    " infermiere infermiera dottore dottoressa chirurgo dentista veterinario farmacista "
    "fisioterapista psicologo psicologa insegnante professore professoressa maestro "
    "maestra studente studentessa grafico grafica designer sviluppatore sviluppatrice "
    "programmatore programmatrice ingegnere architetto fotografo fotografa giornalista "
    "scrittore scrittrice musicista cantante pittore pittrice attore attrice ballerino "
    "ballerina modella modello cuoco cuoca pasticciere panettiere cameriere cameriera "
    "barista cassiere cassiera commercialista avvocato avvocata avvocatessa segretaria "
    "traduttore traduttrice elettricista idraulico falegname meccanico pompiere "
    "poliziotto poliziotta carabiniere pilota autista allenatore allenatrice "
    "parrucchiere parrucchiera estetista ricercatore ricercatrice imprenditore "
    "imprenditrice commesso commessa impiegato impiegata operaio operaia consulente "
    "educatore educatrice"
    # de
    " lehrer lehrerin arzt arztin zahnarzt zahnarztin tierarzt tierarztin krankenschwester "
    "krankenpfleger krankenpflegerin pfleger pflegerin designer designerin entwickler "
    "entwicklerin programmierer programmiererin ingenieur ingenieurin architekt "
    "architektin fotograf fotografin journalist journalistin autor autorin musiker "
    "musikerin sanger sangerin kunstler kunstlerin schauspieler schauspielerin tanzer "
    "tanzerin koch kochin backer backerin kellner kellnerin barkeeper kassierer "
    "kassiererin buchhalter buchhalterin anwalt anwaltin sekretarin ubersetzer "
    "ubersetzerin elektriker klempner tischler schreiner mechaniker feuerwehrmann "
    "polizist polizistin soldat soldatin pilotin fahrer fahrerin trainerin friseur "
    "friseurin friseuse verkaufer verkauferin forscher forscherin student studentin "
    "erzieher erzieherin sozialarbeiter sozialarbeiterin physiotherapeut "
    "physiotherapeutin psychologe psychologin apotheker apothekerin grafiker grafikerin "
    "informatiker informatikerin beamter beamtin azubi selbststandig selbstandig "
    "unternehmer unternehmerin berater beraterin hebamme mediengestalter "
    "mediengestalterin"
    # pt
    " enfermeiro enfermeira medico medica professora estudante desenvolvedora "
    "engenheiro engenheira arquiteto arquiteta fotografo fotografa jornalista "
    "escritora musico cantora pintora ator atriz dancarino dancarina bailarino "
    "bailarina cozinheiro cozinheira padeiro padeira garcom garconete caixa contador "
    "contadora advogado advogada secretaria tradutora eletricista encanador carpinteiro "
    "bombeiro bombeira policial motorista treinador treinadora cabeleireiro "
    "cabeleireira vendedora pesquisador pesquisadora empresario empresaria "
    "funcionario funcionaria autonomo autonoma nutricionista esteticista maquiadora "
    "maquiador psicologa dentista fisioterapeuta veterinaria farmaceutico farmaceutica "
    "analista consultora consultor programadora designer"
)
# Jobs of two or more words, matched before single words.
_JOB_PHRASES = (
    "real estate agent",
    "flight attendant",
    "personal trainer",
    "police officer",
    "social worker",
    "stay at home mom",
    "makeup artist",
    "tattoo artist",
    "content creator",
    "web designer",
    "sous chef",
)
# Words that may stand before an English job noun ("freelance graphic designer").
_JOB_MODIFIERS = _words(
    "freelance junior senior full-time part-time professional pro self-employed independent "
    "certified registered licensed head lead chief trainee qualified graphic web software "
    "ux ui product fashion wedding portrait food travel school primary secondary high "
    "elementary english french spanish math maths music yoga dance fitness personal "
    "flight dental night er icu pediatric nursing medical data social media content "
    "marketing sales project account financial investment civil mechanical electrical "
    "structural sound video film tv radio news sports event interior landscape art "
    "creative digital game mobile frontend front-end backend back-end full-stack "
    "fullstack devops cloud mental health care support customer tech it construction "
    "kindergarten preschool university college grad phd med law psychology pastry "
    "tattoo makeup hair nail beauty research lab science history biology chemistry "
    "physics language piano guitar real estate home truck delivery bus taxi uber"
)
# What may follow a job noun without making it something else ("a model citizen").
_JOB_FOLLOWERS = _words(
    "in at for from and but too by myself here lol haha so now who based living working "
    "with of on btw currently actually also as since mostly mainly & et mais aussi depuis "
    "a en dans chez pour y pero tambien desde aqui con e ma anche da qui und aber auch seit "
    "hier bei mas tambem aqui com no na mdr jaja kkk ahah"
)
# Complements some jobs take ("prof de maths", "étudiante en droit", "Lehrerin für Deutsch").
_JOB_COMPLEMENTED = _words(
    "prof professeur professeure profesor profesora professore professoressa professor "
    "insegnante maestro maestra enseignant enseignante lehrer lehrerin coach etudiant "
    "etudiante estudiante studente studentessa student studentin estudante ingenieur "
    "ingenieure ingeniero ingeniera ingegnere engenheiro engenheira teacher professora"
)
_JOB_COMPLEMENT_LINKS = _words("de d en di in fur em")
_JOB_SUFFIXES = _words(
    "freelance junior senior web independant independante independiente indipendente "
    "freiberuflich autonomo autonoma liberal liberale informatico informatica informaticien "
    "informaticienne civil civile industrial industriale social sociale comercial grafico "
    "grafica commerciale"
)
# Fields and workplaces after "I work in", "je bosse dans", "trabalho com".
_FIELDS = _words(
    "marketing com communication communications comunicacion comunicazione kommunikation "
    "comunicacao finance finances finanzas finanza finanzen financas banking banque banca "
    "banco bank it tech informatique informatica informatik ti healthcare sante sanidad "
    "sanita gesundheitswesen saude hospital hopital ospedale krankenhaus clinic clinique "
    "clinica klinik education enseignement educacion istruzione bildung educacao "
    "restaurant restaurants restauration restaurante ristorante ristorazione gastronomie "
    "gastronomia hospitality hosteleria hotellerie hotel hotels retail vente ventas "
    "vendite vertrieb vendas sales fashion mode moda tourism tourisme turismo tourismus "
    "construction batiment construccion edilizia bau construcao law droit derecho legge "
    "recht direito advertising pub publicite publicidad pubblicita werbung publicidade "
    "cinema film cine kino logistics logistique logistica logistik software insurance "
    "assurance assurances seguros assicurazioni versicherung hr rh design journalism "
    "journalisme periodismo giornalismo journalismus jornalismo media medias medios "
    "medien midia telecom telecoms consulting conseil consultoria consultoria consulenza "
    "beratung startup start-up bar cafe café school ecole escuela scuola escola pharmacy "
    "pharmacie farmacia apotheke lab labo laboratoire laboratorio labor laboratorio "
    "research recherche investigacion ricerca forschung pesquisa ngo ong beauty beaute "
    "belleza bellezza kosmetik beleza immobilier inmobiliaria immobiliare immobilien "
    "imobiliaria agency agence agencia agenzia agentur agencia salon boutique shop "
    "magasin tienda negozio laden loja supermarket supermarche supermercado supermercato "
    "supermarkt airline aviation aviacion aviazione luftfahrt aviacao sport sports "
    "deporte deportes fitness gym"
)
_TIME_WORDS = _words(
    "morning mornings evening evenings night nights afternoon hour hours minute minutes "
    "min mins week weekends weekend week-end week-ends finde today tomorrow matin soir "
    "soiree nuit heure heures semaine manana tarde noche hora horas semana mattina sera "
    "notte ora ore settimana morgen abend nacht stunde stunden woche manha noite"
)

# Interests: whole words, and stems that start a word ("photograph" → photography).
_INTEREST_WORDS = _words(
    "yoga pilates surf surfing surfer surfear skate skating skateboard snowboard ski "
    "skiing esqui sci gym muscu musculation fitness crossfit workout workouts sport "
    "sports deporte deportes football soccer futbol fussball calcio futebol basket "
    "basketball baloncesto tennis tenis padel golf boxing boxe boxeo boxen boxe "
    "climbing escalade escalada arrampicata klettern bouldering bloc running jogging "
    "correr correre corsa laufen joggen corrida swimming natation nadar nuoto "
    "schwimmen natacao cycling velo bike biking ciclismo radfahren bici bicicleta "
    "hiking hike hikes rando randonnee randonnees senderismo trekking escursionismo "
    "wandern trilha trilhas music musique musica musik concerts concert concerti "
    "konzerte shows festivals festival guitar guitare guitarra chitarra gitarre piano "
    "singing chant chanter cantar cantare singen drums batterie techno jazz rock rap "
    "hip-hop salsa bachata tango ballet dance dancing danse danser baile bailar "
    "ballare ballo tanzen tanz danca dancar art arts arte kunst painting peinture "
    "pintar pintura dipingere pittura malen drawing dessin dessiner dibujar dibujo "
    "disegnare disegno zeichnen desenhar desenho theatre theater teatro cinema cine kino "
    "films movies series anime manga comics mangas reading lire lecture leer lectura "
    "leggere lettura lesen ler leitura books livres libros libri bucher livros writing "
    "ecrire ecriture escribir scrivere schreiben escrever poetry poesie poesia fashion "
    "moda design architecture arquitectura architettura architektur arquitetura "
    "history histoire historia storia geschichte science sciences ciencia scienza "
    "wissenschaft tech coding programming gaming games jeux videojuegos videogiochi "
    "videogames zocken chess echecs ajedrez scacchi schach xadrez cooking cuisine "
    "cuisiner cocinar cocina cucinare cucina kochen cozinhar culinaria baking "
    "patisserie reposteria pasticceria backen confeitaria food gastronomy wine vin vino "
    "wein vinho coffee nature natur naturaleza natura natureza mountains mountain "
    "montagne montana montagna berge montanha beach plage playa spiaggia strand praia "
    "ocean sea mer mar mare meer animals animaux animales animali tiere animais dogs "
    "chiens perros cani hunde cachorros cats chats gatos gatti katzen gardening jardin "
    "jardinage jardineria giardinaggio garten gartnern jardinagem meditation meditacion "
    "meditazione meditieren meditacao tattoos tatouages tatuajes tatuaggi tattoo "
    "tatuagens makeup maquillage maquillaje trucco schminken maquiagem vinyl vinyls "
    "podcasts camping karaoke astrology astrologie astrologia tarot crochet knitting "
    "tricot ganchillo uncinetto stricken sewing couture costura cucito nahen "
    "photography photographie fotografia fotografie travel travelling traveling travels "
    "voyage voyages voyager viajar viajes viaje viaggiare viaggi viaggio reisen "
    "viagens viagem fotografar fotografiare fotografieren fotos photos photo foto "
    "horses equitation fishing peche pesca angeln sailing voile vela segeln diving "
    "plongee buceo immersioni tauchen mergulho languages langues idiomas lingue "
    "sprachen linguas academia nightlife parties party fiesta festa feiern"
)
_INTEREST_STEMS = (
    "photograph",
    "fotograf",
    "randonn",
    "senderis",
    "escursion",
    "escalad",
    "arrampic",
    "kletter",
    "meditat",
    "medita",
    "astronom",
    "skateboard",
    "snowboard",
    "surf",
)
# A noun after an article may be the bot's own post ("j'adore la photo").
_AMBIGUOUS = _words(
    "photo photos foto fotos pic pics picture pictures video videos film movie song "
    "chanson cancion canzone lied book livre libro buch livro serie series post story "
    "look outfit reel image images bild bilder tenue musica musique music"
)
# Verbs that describe the chat itself, not a pastime ("I love talking to you").
_CHAT_VERBS = _words(
    "talking chatting speaking texting hearing seeing getting being having receiving "
    "meeting knowing parler discuter papoter echanger recevoir connaitre "
    "rencontrer voir hablar charlar conversar conocer recibir parlare chiacchierare "
    "conoscere ricevere vedere reden quatschen sprechen plaudern schreiben falar "
    "conversar conhecer receber ver"
)
_INTEREST_SKIP = _words(
    "so really very much too also just absolutely totally truly bien beaucoup trop "
    "vraiment grave aussi tellement mucho muchisimo tambien molto tanto davvero anche "
    "sehr total echt auch muito bastante demais tambem to de"
)
_ITEM_STOPS = _words(
    "in on at with for to from by of when because if while dans avec pour sur quand "
    "parce en a con para por cuando porque per quando perche su mit fur wenn weil bei "
    "am im com em no na nos nas quando porque que which that who qui que every each all "
    "tous toutes chaque todo toda todos todas cada ogni tutti tutte jeden jede jedes alle "
    "sometimes often always daily weekly lot fois vez veces volte mal"
)
_NOT_INTERESTS = _NOT_NAMES | _words(
    "it this that these those them him her everything all ca cela ce cette ces eso esto "
    "esta este questo questa quello quella es dies isso isto essa esse way idea thing "
    "things stuff people person guy guys girls men women way vibe vibes energy content "
    "profile profil perfil profilo work job mio mia miei mie"
)

# -- name ------------------------------------------------------------------------------------

_GREETING = (
    r"(?:hi+|hey+|hello|hiya|yo|salut|coucou|bonjour|bonsoir|hola|buenas|ciao|salve|hallo|"
    r"servus|moin|oi+|ola)"
)
_NAME_STRONG = _compile(
    [
        r"\bmy name(?:'s| is)\b",
        rf"^(?:{_GREETING}\b\W*(?:there\W+)?)?(?:the )?name'?s\b",
        r"\bi'?m called\b|\bi am called\b",
        r"\bje m'? ?appelle\b|\bjm'? ?appelle\b",
        r"\bmon (?:pre)?nom (?:c'?est|est)\b",
        r"\bme llamo\b|\bmi nombre es\b",
        r"\bmi chiamo\b|\bil mio nome e\b",
        r"\bich heisse?\b|\bmein name ist\b",
        r"\bmeu nome e\b|\bme chamo\b",
    ]
)
# "call me" and "moi c'est" also precede adverbs ("call me later", "moi c'est pareil"):
# the name must be capitalised.
_NAME_WEAK = _compile(
    [
        r"\bcall me\b",
        r"\bmoi,? c'?est\b",
        r"\bllamame\b",
        r"\bchiamami\b",
        r"\bnenn mich\b",
        r"\b(?:pode|podes) me chamar de\b|\bme chama de\b",
    ]
)
# "I'm <Name>" only at the start of a message (after a greeting and an addressee).
_NAME_AT_START = re.compile(
    rf"^(?:{_GREETING}\b\W*(?:[^\W\d_]+\W+)?)?"
    r"(?:i'?m|i am|im|je suis|jsuis|soy|yo soy|sono|io sono|ich bin|sou|eu sou)\b"
)
_NAME_FOLLOWERS = _words("and from et de y e und aus da di btw lol haha here")


def _name_word(t: _Text, i: int) -> bool:
    token = t.tokens[i]
    word = token.word
    return (
        t.alpha(i)
        and 2 <= len(word) <= 25
        and word not in _NOT_NAMES
        and word not in _NATIONALITIES
        and token.raw.casefold() != "marié"  # folds to "marie"
    )


def _name_after(t: _Text, pos: int, *, capital_needed: bool) -> str | None:
    i = t.index_at(pos)
    if not _starts_clean(t, pos, i) or not _name_word(t, i):
        return None
    if _is_job(t.word(i)):
        return None
    if not t.capitalised(i):
        if capital_needed or t.case_blind:
            return None
        return _tidy_case(t.tokens[i].raw, t.case_blind)
    last = i
    # More capitalised words make a full name ("Ana Luisa", "Jean-Baptiste Dupont").
    while last - i < 2 and t.joined(last + 1) and t.capitalised(last + 1):
        if not _name_word(t, last + 1):
            break
        last += 1
    return _tidy_case(t.span(i, last), t.case_blind)


def _name_at_start(t: _Text) -> str | None:
    match = _NAME_AT_START.match(t.folded)
    if not match or t.case_blind:
        return None
    i = t.index_at(match.end())
    if not _starts_clean(t, match.end(), i) or not t.capitalised(i) or not _name_word(t, i):
        return None
    word = t.word(i)
    if _is_job(word) or _adjective_like(word) or _demonym(word):
        return None
    if match.group().endswith("ich bin") and word.endswith(_GERMAN_PERSON_NOUN_ENDINGS):
        return None
    follower = i + 1
    if t.joined(follower) and t.word(follower) not in _NAME_FOLLOWERS:
        return None  # "I'm Going to bed"
    return t.tokens[i].raw


def _adjective_like(word: str) -> bool:
    # Participles and adjectives that slip past the stop lists ("Cansada", "Aburrido",
    # "Excited"); names this long with these endings are rare.
    return len(word) >= 6 and word.endswith(
        ("ado", "ada", "ados", "adas", "ido", "idos", "ing", "ed", "ful", "ous", "ive")
    )


_DEMONYM_ENDINGS = tuple(_words("ais aise ois oise ien ienne aine er erin ano ana"))
# German capitalises every noun: "ich bin Vegetarier", "ich bin Optimist".
_GERMAN_PERSON_NOUN_ENDINGS = tuple(
    _words("ier ierin ist istin ling mensch typ erin ner ler ant eur")
)


def _demonym(word: str) -> bool:
    """Someone from a known place: "Lyonnaise", "Berlinerin", "Parisienne"."""
    if not word.endswith(_DEMONYM_ENDINGS):
        return False
    return any(
        len(place) >= 4 and len(word) >= len(place) + 2 and word.startswith(place[:-1])
        for place in _PLACES
        if " " not in place
    )


def _find_name(t: _Text) -> str | None:
    found: list[tuple[int, str]] = []
    for pattern, capital_needed in ((_NAME_STRONG, False), (_NAME_WEAK, True)):
        for match in pattern.finditer(t.folded):
            value = _name_after(t, match.end(), capital_needed=capital_needed)
            if value:
                found.append((match.start(), value))
                break
    if found:
        return min(found)[1]
    return _name_at_start(t)


# -- city ------------------------------------------------------------------------------------

_CITY = _compile(
    [
        # en
        r"\b(?:i'?m|i am|im) (?:originally |actually |also )?from\b",
        r"\bi (?:originally |actually )?come from\b",
        r"\bi (?:currently |now |actually |still )?live in\b",
        r"\b(?:i'?m|i am|im) (?:currently |now )?(?:living|based) in\b",
        r"\bi (?:grew up|was born|was raised) in\b|\bborn and raised in\b",
        r"\bi(?:'ve| have)? (?:just )?moved to\b",
        # fr
        r"\bje viens (?:de|d'|du|des)",
        r"\b(?:je suis|jsuis|j'suis|chuis) (?:originaire )?(?:de|d'|du|des)",
        r"\bj'? ?habite(?: a| en| au| aux| sur)?\b",
        r"\bje (?:vis|suis installee?|me suis installee?) (?:a|en|au|aux)\b",
        r"\bje suis nee? (?:a|en|au)\b|\bj'? ?ai grandi (?:a|en|au)\b",
        # es
        r"\b(?:yo )?soy (?:originari[oa] )?(?:de|del)\b",
        r"\b(?:yo )?(?:vivo|resido) en\b",
        r"\bvengo (?:de|del)\b",
        r"\b(?:naci|creci) en\b|\bme mude a\b",
        # it
        r"\b(?:io )?sono (?:originari[oa] )?(?:di|de)\b",
        r"\b(?:abito|vivo) (?:a|ad|in)\b",
        r"\bvengo (?:da|dalla|dal|dall'|dai)",
        r"\bsono (?:nat[oa]|cresciut[oa]) (?:a|in)\b",
        # de
        r"\b(?:ich )?(?:komme|komm) (?:ursprunglich |eigentlich )?aus\b",
        r"\bich bin aus\b",
        r"\b(?:ich )?(?:wohne|wohn|lebe) (?:jetzt |seit kurzem )?in\b",
        # pt
        r"\b(?:eu )?sou (?:de|do|da|dos|das)\b",
        r"\b(?:eu )?(?:moro|vivo) (?:em|no|na|nos|nas)\b",
        r"\b(?:nasci|cresci) (?:em|no|na)\b",
        r"\bvenho (?:de|do|da)\b",
    ]
)
_GERMAN_NOUN_ENDINGS = ("ung", "heit", "keit", "schaft", "tion")


def _place_in_list(t: _Text, i: int) -> int | None:
    """Index of the last token of the longest known place starting at token i."""
    best = None
    words: list[str] = []
    for j in range(i, min(i + _PLACE_WORDS_MAX, len(t.tokens))):
        if j > i and not t.joined(j):
            break
        words.append(t.word(j))
        if " ".join(words) in _PLACES:
            best = j
    return best


def _city_after(t: _Text, match: re.Match[str]) -> str | None:
    if _negated(t, match.start()):
        return None
    trigger_words = match.group().split()
    article = bool(trigger_words) and trigger_words[-1] in _ARTICLE_CONTRACTIONS
    i = t.index_at(match.end())
    if not _starts_clean(t, match.end(), i):
        return None
    if t.word(i) in _ARTICLES and t.joined(i + 1):
        article, i = True, i + 1
    known = _place_in_list(t, i)
    if known is not None:
        last = known
    elif article or not t.capitalised(i):
        return None  # "je viens du boulot", "i'm from work", "ich wohne in der Nähe"
    else:
        word = t.word(i)
        if word in _NOT_PLACES or not t.alpha(i) or word.endswith(_GERMAN_NOUN_ENDINGS):
            return None
        last = i
        # "New York", "Rio de Janeiro", "Buenos Aires": capitals, maybe joined by particles.
        while last - i < _PLACE_WORDS_MAX - 1 and t.joined(last + 1):
            nxt = last + 1
            if t.capitalised(nxt) and t.word(nxt) not in _NOT_PLACES:
                last = nxt
            elif (
                t.word(nxt) in _LOWER_PARTICLES
                and t.joined(nxt + 1)
                and t.capitalised(nxt + 1)
                and t.word(nxt + 1) not in _NOT_PLACES
            ):
                last = nxt + 1
            else:
                break
    return _tidy_case(t.span(i, last), t.case_blind)


def _find_city(t: _Text) -> str | None:
    for match in _CITY.finditer(t.folded):
        value = _city_after(t, match)
        if value:
            return value
    return None


# -- job -------------------------------------------------------------------------------------


def _is_job(word: str) -> bool:
    if word in _JOBS:
        return True
    # German compounds: "Softwareentwicklerin", "Kinderkrankenschwester".
    return len(word) > 8 and any(word.endswith(j) for j in _JOBS if len(j) >= 5)


_JOB_ADVERBS = r"(?:(?:currently|actually|also|now|just|basically|officially) )?"
# "I'm a nurse", "je suis infirmière", "soy médico": the first word must be a job.
_JOB_IS = _compile(
    [
        rf"\b(?:i'?m|i am|im) {_JOB_ADVERBS}(?:an? )?",
        r"\b(?:je suis|jsuis|j'suis|chuis) (?:un |une )?",
        r"\b(?:yo )?soy (?:un |una )?",
        r"\b(?:io )?sono (?:un |una |uno |un')?",
        r"\bfaccio (?:il|la|lo|l') ?",
        r"\bich bin (?:(?:ein|eine) )?(?:gelernte[rn]? )?",
        r"\b(?:eu )?sou (?:um |uma )?",
        r"\bmy (?:job|profession|occupation) is (?:an? )?",
    ]
)
# "I'm 22 and a student": a second clause, read on its own so that "I'm a nurse and a
# mom" still reads "nurse" from the first.
_JOB_AND = re.compile(r"\b(?:i'?m|i am|im) (?!not\b)[^.!?,]{1,30}? and (?:also )?an? ")
# "I work as ...", "trabajo como ...": any noun, unless an article follows ("comme un fou").
_JOB_AS = _compile(
    [
        r"\bi (?:currently )?work as\b|\bi'?m working as\b",
        r"\bje (?:travaille|bosse|taffe) (?:comme|en tant que)\b",
        r"\btrabajo como\b|\bme dedico a\b",
        r"\blavoro come\b|\bmi occupo di\b|\bdi mestiere faccio\b",
        r"\bich arbeite als\b|\bvon beruf\b|\bberuflich bin ich\b",
        r"\btrabalho como\b",
    ]
)
# "I work in marketing", "je bosse dans la com", "trabalho com marketing": a field or a
# capitalised employer, kept with its preposition.
_JOB_IN = _compile(
    [
        r"\bi (?:currently )?work (?:in|at|for)\b",
        r"\bje (?:travaille|bosse|taffe) (?:dans|chez|en|a)\b",
        r"\btrabajo (?:en|para)\b",
        r"\blavoro (?:in|nel|nella|presso|per|da)\b",
        r"\bich arbeite (?:im|in der|in einem|in einer|bei|in)\b",
        r"\btrabalho (?:com|na|no|numa|num|em|para)\b",
    ]
)


def _job_is(t: _Text, match: re.Match[str]) -> str | None:
    if _negated(t, match.start()):
        return None
    english = match.group().startswith(("i", "my"))
    i = t.index_at(match.end())
    if not _starts_clean(t, match.end(), i):
        return None
    if english:
        head = _english_job_head(t, i)
        if head is None:
            return None
        last = head
    else:
        if not _is_job(t.word(i)):
            return None
        last = _job_complement(t, i)
    nxt = last + 1
    if t.joined(nxt) and t.word(nxt) not in _JOB_FOLLOWERS:
        return None  # "a model citizen", "soy modelo a seguir" stays unread
    return t.span(i, last)


def _english_job_head(t: _Text, i: int) -> int | None:
    for j in range(i, min(i + 4, len(t.tokens))):
        if j > i and not t.joined(j):
            return None
        for phrase in _JOB_PHRASES:
            size = len(phrase.split())
            words = [t.word(k) for k in range(j, j + size)]
            if " ".join(words) == phrase and all(t.joined(k) for k in range(j + 1, j + size)):
                return j + size - 1
        if _is_job(t.word(j)):
            last = j
            while t.joined(last + 1) and _is_job(t.word(last + 1)):
                last += 1  # "nurse practitioner", "teaching assistant"
            return last
        if t.word(j) not in _JOB_MODIFIERS:
            return None  # "a good cook", "a big fan", "a bit tired"
    return None


def _job_complement(t: _Text, i: int) -> int:
    """Extend a job noun by "freelance" or by "de maths" where that job takes one."""
    last = i
    nxt = last + 1
    if t.joined(nxt) and t.word(nxt) in _JOB_SUFFIXES:
        return nxt
    if (
        t.word(i) in _JOB_COMPLEMENTED
        and t.joined(nxt)
        and t.word(nxt) in _JOB_COMPLEMENT_LINKS
        and t.joined(nxt + 1)
        and t.alpha(nxt + 1)
        and t.word(nxt + 1) not in _NOT_NAMES
    ):
        return nxt + 1
    return last


def _job_as(t: _Text, match: re.Match[str]) -> str | None:
    if _negated(t, match.start()):
        return None
    i = t.index_at(match.end())
    if not _starts_clean(t, match.end(), i):
        return None
    with_article = t.word(i) in _ARTICLES and t.joined(i + 1)
    if with_article:
        i += 1
    word = t.word(i)
    if not t.alpha(i) or word in _NOT_INTERESTS:
        return None
    if word in _TIME_WORDS:
        return None
    likeness = re.search(r"\b(?:comme|como|come)$", match.group()) is not None
    if with_article and likeness and not _is_job(word):
        return None  # "comme un fou", "come un matto", "como un loco"
    last = i
    while (
        last - i < 3
        and t.joined(last + 1)
        and (_is_job(t.word(last + 1)) or t.word(last + 1) in _JOB_SUFFIXES)
    ):
        last += 1
    if _is_job(word):
        last = max(last, _job_complement(t, i))
    return t.span(i, last)


def _job_in(t: _Text, match: re.Match[str]) -> str | None:
    if _negated(t, match.start()):
        return None
    i = t.index_at(match.end())
    if not _starts_clean(t, match.end(), i):
        return None
    # The value keeps its preposition ("in banca", "dans la com", "im Marketing").
    two_words = re.search(r"\bin (?:der|einem|einer)$", match.group()) is not None
    preposition = i - (2 if two_words else 1)
    j = i
    if t.word(j) in _ARTICLES and t.joined(j + 1):
        j += 1
    # Up to three words of which one names a field ("marketing digital", "a hospital").
    last = None
    for k in range(j, min(j + 3, len(t.tokens))):
        if k > j and not t.joined(k):
            break
        if t.word(k) in _TIME_WORDS or t.word(k) in _SECOND_PERSON:
            return None
        if t.word(k) in _FIELDS:
            last = k
            while t.joined(last + 1) and t.word(last + 1) in _JOB_MODIFIERS:
                last += 1
            break
    if last is None:
        # An employer: "at Google", "chez Decathlon", "bei Siemens"; not a place.
        if j != i or not t.capitalised(j) or _place_in_list(t, j) is not None:
            return None
        if t.word(j) in _NOT_PLACES or not t.alpha(j):
            return None
        last = j
    return t.span(preposition, last)


def _find_job(t: _Text) -> str | None:
    found: list[tuple[int, str]] = []
    for pattern, read in (
        (_JOB_IS, _job_is),
        (_JOB_AND, _job_is),
        (_JOB_AS, _job_as),
        (_JOB_IN, _job_in),
    ):
        for match in pattern.finditer(t.folded):
            value = read(t, match)
            if value:
                found.append((match.start(), value))
                break
    return min(found)[1] if found else None


# -- age -------------------------------------------------------------------------------------

_AGE = _compile(
    [
        # en
        r"\b(?:i'?m|i am|im) (?:now |just |already )?(?P<en>\d{2})\b"
        r"(?P<en_unit>\s*(?:years? old|yrs? old|yo\b|y/o|y\.o\.?))?",
        r"(?:\bi |^)(?:just )?turned (?P<en2>\d{2})\b",
        r"^(?P<en3>\d{2})\s*(?P<en3_unit>years? old|yrs? old|yo\b|y/o|y\.o\.?)",
        # fr
        r"\bj'? ?ai (?:deja |eu )?(?P<fr>\d{2}) ?(?P<fr_unit>ans)\b",
        # es
        r"\b(?:yo )?tengo (?P<es>\d{2})\b(?P<es_unit> ?anos\b)?",
        r"\bcumpli (?P<es2>\d{2})\b(?P<es2_unit> ?anos\b)?",
        # it
        r"\b(?:io )?ho (?P<it>\d{2})\b(?P<it_unit> ?anni\b)?",
        r"\bho compiuto (?P<it2>\d{2})\b(?P<it2_unit> ?anni\b)?",
        # de
        r"\bich bin (?:jetzt |schon |gerade )?(?P<de>\d{2})\b"
        r"(?P<de_unit> ?jahre(?: alt| jung)?\b)?",
        r"\bich (?:werde|wurde) (?:heute |gerade )?(?P<de2>\d{2})\b(?P<de2_unit> ?jahre\b)?",
        r"\bund bin (?P<de3>\d{2})\b(?P<de3_unit> ?jahre(?: alt)?\b)?",
        # pt
        r"\b(?:eu )?tenho (?P<pt>\d{2})\b(?P<pt_unit> ?anos\b)?",
        r"\bfiz (?P<pt2>\d{2})\b(?P<pt2_unit> ?anos\b)?",
    ]
)
# After a bare number, only these make it an age ("I'm 25 and", "ich bin 31!");
# anything else may be a unit or a distance ("I'm 15 minutes away", "ich bin 30 km").
_AGE_FOLLOWERS = _words(
    "and but y e et und aber mais pero ma mas lol haha hahaha mdr jaja jajaja kkk kkkk "
    "btw too aussi tambien anche auch tambem myself from now ahora adesso jetzt agora "
    "maintenant geworden so f m male female here ici aqui qui hier"
)
# Patterns that say a birthday ("I turned 30", "cumplí 22", "fiz 27").
_TURNED = frozenset({"en2", "es2", "it2", "de2", "pt2"})
_UNITS = _words(
    "min mins minute minutes minuten minutos minuti h hour hours hrs heures stunden horas ore "
    "sec km kms miles meters metres m kg kilos lbs pounds euros euro dollars bucks percent "
    "prozent degrees degres grados gradi grad graus followers abonnes seguidores"
)
# After a unit, these turn the age into a duration ("17 ans d'expérience").
_DURATION_FOLLOWERS = _words("de d di da of dans seit verheiratet zusammen")
_UNIT_WITHOUT_OLD = re.compile(r"\s*(?:years?|yrs?|jahre)$")


def _age_from(t: _Text, match: re.Match[str]) -> str | None:
    groups = {k: v for k, v in match.groupdict().items() if v is not None}
    number_key = next(k for k in groups if not k.endswith("_unit"))
    number = int(groups[number_key])
    if not 18 <= number <= 99:
        return None  # minors are `safety.says_minor`'s business, never a stored fact
    if _negated(t, match.start()):
        return None
    unit = groups.get(f"{number_key}_unit")
    rest = t.folded[match.end() :]
    if re.match(r"\s*[%$€£/:'+*°x×-]|[.,]\d|\s*h\b", rest):
        return None  # "99%", "12:30", "30/40", "18h"
    following = re.match(r"\s*([^\W_]+)", rest)
    next_word = following.group(1) if following and rest[: following.start(1)].strip() == "" else ""
    if unit and not _UNIT_WITHOUT_OLD.search(unit):
        if next_word in _DURATION_FOLLOWERS and not re.match(
            r"\s*(?:de|d'|di) ?(?:edad|idade|eta|age)\b", rest
        ):
            return None
        return str(number)
    if number_key in _TURNED:
        # "turned 30 last week": only a unit can make this something else.
        return None if next_word in _UNITS else str(number)
    if next_word and next_word not in _AGE_FOLLOWERS:
        return None
    return str(number)


def _find_age(t: _Text) -> str | None:
    for match in _AGE.finditer(t.folded):
        value = _age_from(t, match)
        if value:
            return value
    return None


# -- interests -------------------------------------------------------------------------------

_INTEREST_VOCAB = "vocab"  # the item must be a known pastime, a gerund or an infinitive
_INTEREST_LABEL = "label"  # "my hobbies are": any plain noun phrase

_INTEREST_RULES: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(pattern), mode, lang)
    for pattern, mode, lang in (
        # en
        (
            r"\bi (?:really |absolutely |just |also |totally |genuinely )?"
            r"(?:love|like|enjoy|adore)\b",
            _INTEREST_VOCAB,
            "en",
        ),
        (
            r"\b(?:i'?m|i am|im) (?:really |so |very |super |totally |big |pretty |also )?into\b",
            _INTEREST_VOCAB,
            "en",
        ),
        (
            r"\b(?:i'?m|i am|im) (?:really |so |very )?(?:passionate about|obsessed with|"
            r"crazy about|a (?:big |huge )?fan of)\b",
            _INTEREST_VOCAB,
            "en",
        ),
        (
            r"\bmy (?:hobby is|hobbies are|hobbies include|passion is|passions are)\b",
            _INTEREST_LABEL,
            "en",
        ),
        (r"\bi (?:also |often |usually )?(?:play|practi[cs]e|do|go)\b", _INTEREST_VOCAB, "en"),
        # fr
        (r"\bj'? ?(?:adore|aime|kiffe)\b|\bje (?:kiffe|adore)\b", _INTEREST_VOCAB, "fr"),
        (
            r"\bje suis (?:trop |tres |super |hyper )?(?:fan|passionnee?|fou|folle|accro) "
            r"(?:de|d'|du|des|par)",
            _INTEREST_VOCAB,
            "fr",
        ),
        (
            r"\b(?:ma passion c'?est|mes passions (?:c'?est|sont)|mes hobbies (?:c'?est|sont)|"
            r"mon hobby c'?est|mes loisirs (?:c'?est|sont))",
            _INTEREST_LABEL,
            "fr",
        ),
        (
            r"\b(?:je|jfais|j') ?(?:fais|pratique) (?:du|de la|de l'|des|le|la|l')",
            _INTEREST_VOCAB,
            "fr",
        ),
        # es
        (
            r"\bme (?:encanta|encantan|gusta|gustan|apasiona|apasionan|flipa|flipan|mola|molan)\b",
            _INTEREST_VOCAB,
            "es",
        ),
        (r"\b(?:yo )?(?:amo|adoro)\b", _INTEREST_VOCAB, "es"),
        (
            r"\bsoy (?:muy )?(?:fan|aficionad[oa]|apasionad[oa]) (?:de|del|a|al|por)\b",
            _INTEREST_VOCAB,
            "es",
        ),
        (
            r"\bmi (?:hobby|pasion|pasatiempo) (?:favorito )?es\b|"
            r"\bmis (?:hobbies|pasatiempos|aficiones|pasiones) son\b",
            _INTEREST_LABEL,
            "es",
        ),
        (r"\b(?:hago|practico)\b", _INTEREST_VOCAB, "es"),
        # it
        (r"\bmi (?:piace|piacciono)\b", _INTEREST_VOCAB, "it"),
        (
            r"\bsono (?:molto )?(?:appassionat[oa]|fissat[oa]|fan) "
            r"(?:di|del|della|dei|delle|per)\b",
            _INTEREST_VOCAB,
            "it",
        ),
        (
            r"\b(?:la mia passione e|le mie passioni sono|il mio hobby e|i miei hobby sono)\b",
            _INTEREST_LABEL,
            "it",
        ),
        (r"\b(?:faccio|pratico)\b", _INTEREST_VOCAB, "it"),
        # de
        (r"\bich (?:liebe|mag)\b", _INTEREST_VOCAB, "de"),
        (r"\bich (?:[^\W\d_]+ )?gerne?\b", _INTEREST_VOCAB, "de"),
        (
            r"\b(?:mein hobby ist|meine hobbys sind|meine hobbies sind|"
            r"meine leidenschaft ist)\b",
            _INTEREST_LABEL,
            "de",
        ),
        (r"\bich interessiere mich (?:sehr )?fur\b", _INTEREST_VOCAB, "de"),
        (r"\bich (?:mache|spiele)\b", _INTEREST_VOCAB, "de"),
        # pt
        (r"\b(?:eu )?(?:adoro|amo|curto)\b", _INTEREST_VOCAB, "pt"),
        (
            r"\b(?:eu )?gosto (?:muito |bastante |demais )?(?:de|do|da|dos|das)\b",
            _INTEREST_VOCAB,
            "pt",
        ),
        (
            r"\bsou (?:muito )?(?:apaixonad[oa]|fa|viciad[oa]) (?:por|pela|pelo|em|de|do|da)\b",
            _INTEREST_VOCAB,
            "pt",
        ),
        (r"\b(?:meu hobby e|meus hobbies sao|minha paixao e)\b", _INTEREST_LABEL, "pt"),
        (r"\b(?:eu )?(?:faco|pratico|jogo)\b", _INTEREST_VOCAB, "pt"),
    )
)
_INFINITIVE_ENDINGS = {
    "fr": ("er", "ir", "re"),
    "es": ("ar", "er", "ir"),
    "it": ("are", "ere", "ire"),
    "de": ("en", "ern"),
    "pt": ("ar", "er", "ir"),
}


def _known_interest(word: str) -> bool:
    return word in _INTEREST_WORDS or word.startswith(_INTEREST_STEMS)


def _verb_like(word: str, lang: str) -> bool:
    if word in _CHAT_VERBS or len(word) < 5:
        return False
    if lang == "en":
        return word.endswith("ing") and word not in _NOT_INTERESTS
    return lang != "de" and word.endswith(_INFINITIVE_ENDINGS[lang])


def _interest_item(t: _Text, i: int, mode: str, lang: str) -> tuple[str, int] | None:
    """One pastime starting at token i: (its text, index of its last token)."""
    while t.word(i) in _INTEREST_SKIP and t.joined(i + 1):
        i += 1
    had_article = t.word(i) in _ARTICLES and t.joined(i + 1)
    if had_article:
        i += 1
    if i >= len(t.tokens):
        return None
    first = t.word(i)
    if first in _NOT_INTERESTS or first in _SECOND_PERSON or not t.alpha(i):
        return None
    last = i
    while (
        last - i < 2
        and t.joined(last + 1)
        and t.word(last + 1) not in _ITEM_STOPS
        and t.word(last + 1) not in _ARTICLES
        and t.word(last + 1) not in _CONJUNCTIONS
        and t.word(last + 1) not in _SECOND_PERSON
        and t.word(last + 1) not in _TIME_WORDS
        and t.alpha(last + 1)
    ):
        last += 1
    words = [t.word(k) for k in range(i, last + 1)]
    # "talking to you", "ver tus fotos": the pastime is the conversation itself.
    for k in range(last + 1, min(last + 4, len(t.tokens))):
        if not t.joined(k):
            break
        if t.word(k) in _SECOND_PERSON:
            return None
    if any(_is_job(w) for w in words) or any(w in _NOT_INTERESTS for w in words):
        return None
    if mode == _INTEREST_VOCAB:
        known = [w for w in words if _known_interest(w)]
        if known:
            # "dogs more than cats" → "dogs"; "street photography" stays whole.
            last = i + max(k for k, w in enumerate(words) if _known_interest(w))
            words = words[: last - i + 1]
            if had_article and all(w in _AMBIGUOUS for w in known) and len(words) == 1:
                return None  # "j'adore la photo" may be about the bot's photo
        elif _verb_like(first, lang):
            last = i if len(words) > 2 else last  # "bailar salsa", but not a whole clause
        else:
            return None
    return t.span(i, last), last


def _interests_after(t: _Text, match: re.Match[str], mode: str, lang: str) -> str | None:
    if _negated(t, match.start()):
        return None
    i = t.index_at(match.end())
    if not _starts_clean(t, match.end(), i):
        return None
    if lang == "en" and t.word(i) == "to" and t.joined(i + 1):
        i += 1  # "I love to travel"
    items: list[str] = []
    while len(items) < MAX_INTERESTS:
        item = _interest_item(t, i, mode, lang)
        if item is None:
            break
        items.append(item[0])
        nxt = item[1] + 1
        gap = t.gap(nxt).strip()
        if gap in (",", "", "&") and t.word(nxt) in _CONJUNCTIONS:
            nxt += 1
        elif gap != ",":
            break
        if nxt >= len(t.tokens) or t.word(nxt) in _SECOND_PERSON:
            break
        i = nxt
        mode = _INTEREST_VOCAB  # later items of a list must look like pastimes too
    while items and len(", ".join(items)) > MAX_VALUE:
        items.pop()
    return ", ".join(items) if items else None


def _find_interest(t: _Text) -> str | None:
    found: list[tuple[int, str]] = []
    for pattern, mode, lang in _INTEREST_RULES:
        for match in pattern.finditer(t.folded):
            value = _interests_after(t, match, mode, lang)
            if value:
                found.append((match.start(), value))
                break
    return min(found)[1] if found else None


# -- public API ------------------------------------------------------------------------------

_FINDERS: tuple[tuple[FactKind, Callable[[_Text], str | None]], ...] = (
    (FactKind.NAME, _find_name),
    (FactKind.CITY, _find_city),
    (FactKind.JOB, _find_job),
    (FactKind.INTEREST, _find_interest),
    (FactKind.AGE, _find_age),
)


def extract_facts(text: str) -> list[Fact]:
    """The facts a contact's message states about them: at most one per kind, in
    FactKind order, each value as written (names and places capitalised), ≤ 60 chars."""
    t = _Text(text)
    if not t.tokens:
        return []
    facts: list[Fact] = []
    for kind, find in _FINDERS:
        value = find(t)
        if value:
            facts.append(Fact(kind, _clip(value)))
    return facts


# -- questions a reply asks ------------------------------------------------------------------

_YOU = r"(?:you|u|ya)"
# A question that is one bare verb ("¿trabajas?", "e tu, lavori?"), not "i lavori?".
_CLAUSE_START = r"(?:^|[¿?.!,] ?)(?:(?:y|e|et|und|and) )?(?:(?:tu|tu,) )?"
_ASKS: dict[FactKind, re.Pattern[str]] = {
    FactKind.NAME: _compile(
        [
            r"\bwhat'?s? (?:is )?(?:your|ur) name\b|\bwhat is (?:your|ur) name\b",
            rf"\bwhat (?:should|can|do) (?:i|people|they) call {_YOU}\b",
            r"\b(?:can|could|may) i (?:get|have|know|ask) (?:your|ur) name\b",
            r"\bwho am i (?:talking|chatting) (?:to|with)\b",
            r"\btell me your name\b",
            r"\btu t'? ?appelles? comment\b|\bcomment (?:tu t'? ?appelles|t'? ?appelles[- ]tu)\b",
            r"\bcomment vous appelez[- ]vous\b|\bvous vous appelez comment\b",
            r"\b(?:c'?est quoi|quel est) ton (?:pre)?nom\b",
            r"\bcomo te (?:llamas|dicen)\b|\bcual es tu nombre\b",
            r"\bcome ti chiami\b|\bqual e il tuo nome\b",
            r"\bwie hei(?:ss|s)t du\b|\bwie hei(?:ss|s)en sie\b|\bwie ist dein name\b",
            r"\bcomo (?:voce|vc|tu) se chama\b|\bcomo te chamas\b|\bcomo (?:voce|vc) chama\b",
            r"\bqual (?:e )?(?:o )?(?:seu|teu) nome\b|\bcomo e (?:o )?seu nome\b",
        ]
    ),
    FactKind.CITY: _compile(
        [
            rf"\bwhere (?:are|r) {_YOU} (?:originally )?from\b|\bwhere {_YOU} from\b",
            rf"\bwhere do {_YOU} (?:live|come from|stay|call home)\b",
            rf"\bwhere (?:are|r) {_YOU} (?:based|located|living)\b",
            rf"\bwhere did {_YOU} grow up\b|\bwhere(?:'s| is) home\b",
            rf"\bwhat (?:city|town|country) (?:are|r|do) {_YOU}\b",
            rf"\b(?:which|what) (?:city|town|country|part of \w+) (?:are|r) {_YOU} (?:from|in)\b",
            rf"\btell me where {_YOU}(?:'re| are) from\b",
            r"\btu viens d'? ?ou\b|\bd'? ?ou (?:tu viens|viens[- ]tu|venez[- ]vous)\b",
            r"\b(?:tu es|t'? ?es|vous etes) d'? ?ou\b",
            r"\btu (?:habites|vis) ou\b|\bou (?:tu habites|habites[- ]tu|tu vis|vis[- ]tu)\b",
            r"\b(?:tu es|t'? ?es) de quelle ville\b|\bdans quelle ville\b",
            r"\bde donde (?:eres|sos|es usted)\b|\bdonde vives\b|\bdonde vivis\b",
            r"\b(?:en|de) que ciudad\b",
            r"\bdi dove sei\b|\bdove (?:vivi|abiti)\b|\bda dove vieni\b",
            r"\b(?:di|in) che citta\b",
            r"\bwoher kommst du\b|\bwo kommst du her\b|\bwo (?:wohnst|lebst) du\b",
            r"\bwoher bist du\b|\bwo bist du her\b|\baus welcher stadt\b",
            r"\bde onde (?:voce|vc|tu) e\b|\bde onde e (?:voce|vc)\b|\b(?:voce|vc) e de onde\b",
            r"\bonde (?:voce|vc|tu) mora|\b(?:voce|vc) mora onde\b|\bde onde es\b",
            r"\b(?:de|em) que cidade\b",
            # yes/no: "are you from London?", "wohnst du in Berlin?", "sei di Roma?"
            rf"\b(?:are|r) {_YOU} (?:originally |also )?from\b(?! the (?:future|past)| space)",
            rf"\bdo {_YOU} (?:still )?live in\b",
            r"\b(?:tu es|t'? ?es|es[- ]tu|vous etes) (?:aussi )?(?:de|du)\b"
            r"(?! retour| passage| bonne| mauvaise)",
            r"\btu (?:habites|vis) (?:a|en|au|sur|dans)\b",
            r"\beres (?:de|del)\b(?! verdad)|\bvives en\b",
            r"\bsei (?:di|de)\b(?! fretta| buon| cattivo)|\b(?:abiti|vivi) (?:a|in)\b",
            r"\b(?:wohnst|lebst) du (?:auch )?in\b|\b(?:kommst|bist) du (?:auch )?aus\b",
            r"\b(?:voce|vc|tu) e (?:de|do|da)\b|\b(?:voce|vc|tu) mora (?:em|no|na)\b",
            r"\bde onde e\b",
        ]
    ),
    FactKind.JOB: _compile(
        [
            rf"\bwhat do {_YOU} do (?:for (?:a )?(?:living|work|job)|professionally)\b",
            r"\bwhat(?:'s| is) (?:your|ur) (?:job|profession|occupation|line of work)\b",
            rf"\bwhat (?:kind of )?work do {_YOU} do\b|\bwhere do {_YOU} work\b",
            rf"\bwhat do {_YOU} work as\b|\bwhat line of work\b",
            r"\b(?:tu fais|vous faites) quoi "
            r"(?:dans la vie|comme (?:travail|metier|boulot|taf|job))\b",
            r"\bqu'? ?est[- ]ce que (?:tu fais|vous faites) dans la vie\b",
            r"\bque fais[- ]tu dans la vie\b",
            r"\btu (?:bosses|travailles) (?:dans quoi|ou)\b",
            r"\b(?:c'?est quoi|quel est) ton (?:metier|travail|boulot|taf|job)\b",
            r"\ba que te dedicas\b|\ba que se dedica\b|\b(?:en|de) que trabajas\b",
            r"\bcual es tu (?:trabajo|profesion)\b|\bdonde trabajas\b",
            r"\bque haces (?:en la vida|de trabajo)\b",
            r"\b(?:trabajas o estudias|estudias o trabajas)\b",
            r"\bche lavoro fai\b|\b(?:cosa|che) fai (?:nella vita|di lavoro)\b",
            r"\bdi cosa ti occupi\b|\bdove lavori\b|\b(?:studi o lavori|lavori o studi)\b",
            r"\bwas machst du (?:so )?beruflich\b|\b(?:als )?was arbeitest du\b",
            r"\bwas ist dein beruf\b|\bwo arbeitest du\b|\bwas bist du von beruf\b",
            r"\bwas machen sie beruflich\b",
            r"\bo que (?:voce|vc|tu) faz (?:da vida|profissionalmente)\b",
            r"\b(?:voce|vc|tu)? ?trabalha(?:s)? com o que\b|\bqual (?:e )?(?:a )?sua profissao\b",
            r"\bonde (?:voce|vc|tu) trabalha\b|\bem que (?:voce|vc|tu) trabalha\b",
            r"\b(?:voce|vc) estuda ou trabalha\b",
            # yes/no: "are you a student?", "t'es étudiante ?", "bist du Studentin?"
            rf"\b(?:are|r) {_YOU} (?:still )?(?:a |an )?(?:student|working|employed)\b",
            # a bare "do you work?" only when nothing follows it ("trabajas mañana?" is not)
            r"\b(?:tu es|t'? ?es|vous etes) (?:encore )?etudiante?\b",
            r"\btu (?:bosses|travailles|etudies)(?= ?\?)",
            rf"{_CLAUSE_START}(?:estudias|trabajas)(?= ?\?)|\beres estudiante\b",
            rf"{_CLAUSE_START}(?:studi|lavori)(?= ?\?)|\bsei (?:ancora )?studente(?:ssa)?\b",
            r"\bbist du (?:noch )?student(?:in)?\b|\b(?:studierst|arbeitest) du(?= ?\?)",
            r"\b(?:voce|vc|tu) e estudante\b|\b(?:voce|vc|tu) (?:estuda|trabalha)(?= ?\?)",
        ]
    ),
    FactKind.INTEREST: _compile(
        [
            rf"\bwhat do {_YOU} do (?:for fun|in (?:your|ur) (?:free|spare) time|"
            r"on (?:the )?weekends?)\b",
            rf"\bwhat do {_YOU} (?:like|love|enjoy) (?:to do|doing)\b",
            rf"\bwhat (?:are|r) {_YOU} (?:into|passionate about)\b",
            r"\b(?:what are|what'?re) (?:your|ur) (?:hobbies|passions|interests)\b",
            rf"\bany hobbies\b|\bdo {_YOU} have (?:any )?hobbies\b|\bhobbies\?",
            r"\bwhat(?:'s| is) (?:your|ur) (?:passion|hobby)\b",
            r"\b(?:t'? ?as|tu as) des (?:passions|hobbies|loisirs)\b",
            r"\b(?:quelles sont|c'? ?est quoi) tes (?:passions|hobbies|loisirs)\b",
            r"\bquels sont tes (?:hobbies|loisirs)\b",
            r"\btu fais quoi (?:de ton temps libre|le week-?end|pour te detendre)\b",
            r"\b(?:tu aimes faire quoi|qu'? ?est[- ]ce que tu aimes faire)\b",
            r"\bque te gusta hacer\b|\bcuales son tus (?:hobbies|pasatiempos|aficiones|pasiones)\b",
            r"\btienes (?:algun )?(?:hobby|hobbies|pasatiempos)\b",
            r"\bque haces en tu tiempo libre\b|\bcual es tu pasion\b",
            r"\b(?:cosa|che) ti piace fare\b|\bhai (?:qualche )?(?:hobby|passioni)\b",
            r"\bquali sono (?:i tuoi hobby|le tue passioni)\b|\bqual e la tua passione\b",
            r"\b(?:cosa|che) fai nel tempo libero\b",
            r"\bwas (?:machst|tust) du (?:gerne?|in deiner freizeit)\b",
            r"\bwas sind deine hobb(?:y|ie)s\b|\bhast du hobb(?:y|ie)s\b",
            r"\bwofur interessierst du dich\b",
            r"\bo que (?:voce|vc|tu) (?:gosta|curte) de fazer\b",
            r"\bquais (?:sao )?(?:os )?(?:seus|teus) hobbies\b|\btem algum hobby\b",
            r"\bo que (?:voce|vc|tu) faz no (?:seu )?tempo livre\b",
            r"\bqual (?:e )?(?:a )?sua paixao\b",
        ]
    ),
    FactKind.AGE: _compile(
        [
            rf"\bhow old (?:are|r) {_YOU}\b",
            r"\bwhat(?:'s| is) (?:your|ur) age\b",
            r"\b(?:tu as|t'? ?as|vous avez) quel age\b",
            r"\bquel age (?:as[- ]tu|tu as|avez[- ]vous)\b",
            r"\bcuantos anos (?:tienes|tenes)\b|\bque edad tienes\b|\bcual es tu edad\b",
            r"\bquanti anni hai\b|\bche eta hai\b",
            r"\bwie alt bist du\b|\bwie alt sind sie\b",
            r"\bquantos anos (?:voce|vc|tu) tem\b|\bquantos anos tens\b",
            r"\bqual (?:e )?(?:a )?sua idade\b|\bque idade (?:voce|vc|tu) tem\b",
        ]
    ),
}
# A bare "what do you do?" / "o que você faz?" asks for a job; with more words after it
# ("what do you do tonight?") it asks something else.
_BARE_JOB = re.compile(rf"\bwhat (?:do|d'?) {_YOU} do\b|\bo que (?:voce|vc|tu) faz\b")
# "I'm from Lyon, and you?" asks back whatever the reply has just said about itself.
_AND_YOU = re.compile(
    r"(?:\band|&|\bwhat about|\bhow about) (?:you|u|yourself)\s*\?|"
    r"\bet (?:toi|vous)\s*\?|\by (?:tu|vos|usted)\s*\?|\be tu\s*\?|"
    r"\bund du\s*\?|\bund (?:sie|selbst)\s*\?|\be (?:voce|vc)\s*\?"
)
_IMPERATIVE = re.compile(r"\btell me\b")


def _is_question(sentence: str, match: re.Match[str]) -> bool:
    """The matched words sit in a question: its sentence ends with "?", opens with "¿",
    ends the whole message unpunctuated, or is an imperative "tell me ..."."""
    start = max(sentence.rfind(c, 0, match.start()) for c in ".!?¡¿")
    if start >= 0 and sentence[start] == "¿":
        return True
    if _IMPERATIVE.search(sentence[max(start, 0) : match.start()] + match.group()):
        return True
    rest = sentence[match.end() :]
    end = re.search(r"[.!?]+", rest)
    if end:
        return "?" in end.group()
    return not re.search(r"[^\W_]", rest)


def _last_sentences(text: str, count: int = 2, limit: int = 300) -> str:
    """The end of `text`: its last sentences, which is what "and you?" refers to."""
    parts = re.split(r"(?<=[.!?])\s+", text[-limit:])
    return " ".join(parts[-count:])


def asks_about(text: str) -> frozenset[FactKind]:
    """The fact kinds a reply asks the contact about (a question, not a statement)."""
    kinds: set[FactKind] = set()
    for line in text.splitlines():
        text_ = _Text(line)
        folded = text_.folded
        for kind, pattern in _ASKS.items():
            if any(_is_question(folded, m) for m in pattern.finditer(folded)):
                kinds.add(kind)
        for match in _BARE_JOB.finditer(folded):
            if re.match(r"\s*(?:exactly|then|now|again)?\s*(?:\?|$)", folded[match.end() :]):
                kinds.add(FactKind.JOB)
        for match in _AND_YOU.finditer(folded):
            before = line[: text_.origin[match.start()]] if match.start() else ""
            kinds.update(fact.kind for fact in extract_facts(_last_sentences(before)))
    return frozenset(kinds)


# -- keeping facts ---------------------------------------------------------------------------

_LABELS: dict[FactKind, str] = {
    FactKind.NAME: "name",
    FactKind.CITY: "lives in / comes from",
    FactKind.JOB: "job",
    FactKind.INTEREST: "into",
    FactKind.AGE: "age",
}


def _interest_items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def merge(known: Mapping[FactKind, str], new: Iterable[Fact]) -> dict[FactKind, str]:
    """Known facts updated with new ones: a newer fact replaces an older one of its kind
    (people move, change jobs, have birthdays); interests accumulate, the latest three
    kept, oldest first."""
    merged = dict(known)
    for fact in new:
        if fact.kind is not FactKind.INTEREST:
            merged[fact.kind] = fact.value
            continue
        items = _interest_items(merged.get(FactKind.INTEREST, ""))
        for item in _interest_items(fact.value):
            items = [old for old in items if old.casefold() != item.casefold()]
            items.append(item)
        merged[FactKind.INTEREST] = ", ".join(items[-MAX_INTERESTS:])
    return merged


def describe_known(known: Mapping[FactKind, str]) -> list[str]:
    """Prompt lines for what the contact has already said, in FactKind order."""
    lines: list[str] = []
    for kind in FactKind:
        value = " ".join(known.get(kind, "").split())
        if value:
            lines.append(f"{_LABELS[kind]}: {value}")
    return lines
