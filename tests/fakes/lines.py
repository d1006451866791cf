"""Distinct replies a fake model can give: no two are near-duplicates of each other."""

from dmpilot.audit.synthetic import REPLY_POOL

ENGLISH = REPLY_POOL

FRENCH = [
    "c'était quoi le meilleur repas de ton dernier voyage ?",
    "tu préfères les photos au lever du soleil ou la nuit ?",
    "quel sac photo tu emportes toujours avec toi ?",
    "quelle ville t'a le plus surpris l'année dernière ?",
    "tu imprimes tes photos ou tu les gardes sur ton téléphone ?",
    "qui t'a appris à faire des photos au départ ?",
    "il y a un pays où tu retournes souvent ?",
    "tu retouches sur ordinateur ou directement sur mobile ?",
    "c'est quoi la prochaine destination sur ta liste ?",
    "tu organises tout à l'avance ou tu improvises tes voyages ?",
    "quelle saison a la plus belle lumière chez toi ?",
    "tu as déjà essayé l'argentique ou seulement le numérique ?",
]
