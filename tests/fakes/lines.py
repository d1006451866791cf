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

# Statements (no question), for a model told that its last two replies were questions.
STATEMENTS = [
    "golden hour on the coast is my favourite light, it makes everything glow",
    "i spent last spring in the dolomites and still dream about those ridges",
    "night markets are the best place for candid shots",
    "slow trains are my favourite way to travel, so much time to look outside",
    "i always pack one lens too many, every single trip",
    "a foggy morning beats a blue sky for photos, honestly",
    "the best photos i took were the unplanned ones",
    "iceland in winter was cold but the light was worth it",
    "coffee first, camera second, that's my morning rule",
    "small villages in france are full of quiet little scenes",
]

# Goodbyes a model writes, each different.
GOODBYES = [
    "i'm off to edit a new batch now, it was so nice talking photos with you 🌿",
    "heading offline to travel for a bit, thanks for the lovely chat",
    "time for me to pack my camera, enjoy your next trip and take care",
    "i'll leave you with that, have a beautiful week behind the lens",
    "going quiet for a while to shoot, it was a pleasure chatting",
    "signing off for now, keep chasing that good light",
]
