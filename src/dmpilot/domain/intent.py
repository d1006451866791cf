"""What a message asks for: the link, the price, the offer, something explicit, a meeting.

`detect_intents` is pure and cheap: whole-word regexes on the folded text (see
`dmpilot.domain.safety.fold`), compiled once at import, for English, French, Spanish,
Italian, German and Portuguese. A message may carry several intents ("I want them! how
much?") or none. The rules are tuned against tests/data/detectors.yaml; docs/detectors.md
gives their measured precision and recall.
"""

from __future__ import annotations

import re
from enum import StrEnum

from dmpilot.domain.safety import fold, negated_at


class Intent(StrEnum):
    """One thing a contact's message asks for, and what the engine does about it."""

    ASKS_LINK = "asks_link"
    """Wants the link, or where or how to get or buy the offer ("send me the link",
    "where can I get them", "dónde los compro"). The link may go in this reply, within
    the persona's link budget, whatever the funnel stage."""

    ASKS_PRICE = "asks_price"
    """Asks what the offer costs ("how much?", "combien ça coûte", "was kostet das"). The
    reply answers from the persona's offer facts, and the link may go in this reply
    within its budget, whatever the stage."""

    INTERESTED = "interested"
    """Clearly wants the offer ("I want them!", "je les veux", "me interesa"). The contact
    may advance to the next funnel stage."""

    EXPLICIT = "explicit"
    """A sexual or explicit request ("send nudes", "t'as des photos coquines"). The reply
    is the persona's boundary line, never a pitch and never the link."""

    OUT_OF_SCOPE = "out_of_scope"
    """Asks to meet, date, call or video call, or for a phone number, an address or a
    WhatsApp or Telegram contact. The reply is the persona's decline, never a pitch."""


# Words for the offer, for "where can I buy <it>" ("where can I buy a tripod" is not ours).
_PRODUCT = (
    r"(?:presets?|pack|bundle|filters?|luts?|course|guide|e-?book|collection|product|set|"
    r"templates?|filtres|filtros|filtri|filter|curso|corso|kurs|guia|guida)"
)
_OBJ_EN = (
    rf"(?:them|em|it|these|those|one|yours|(?:the|ur|your|these|those|this|that)\s+{_PRODUCT})"
)
_END = r"(?=\s*(?:$|[^\w\s']|(?:pls|please|plz|then|rn|now|and|lol)\b))"
# "how can I get them to look like this" is not a purchase.
_OBJ_OR_END = rf"(?:\s+{_OBJ_EN}\b(?!\s+(?:to|so|like|looking|that|this)\b)|{_END})"
_CLITIC = r"(?:los|las|lo|la|li|le|l')"
# Verbs for sending, in the six languages (imperative and question forms, then infinitives).
_SEND = (
    r"(?:send|sending|resend|drop|share|envoie|envoies|envoyer|renvoie|manda|mandame|mandas|"
    r"mande|pasa|pasame|pasas|envia|enviame|mandi|mandami|passami|inviami|dammi|girami|schick|"
    r"schicke|schickst|sende|passa|passe|envie)"
)
_SEND_INF = r"(?:schicken|senden|geben|mandare|inviare|passare|enviar|mandar|envoyer|passar|pasar)"
# What may stand between "send" and "link": "send me the link", "schick mal bitte den link".
_FILLER = (
    r"(?:the|a|that|your|ur|le|ton|ce|el|tu|ese|il|quel|den|deinen|nen|o|esse|teu|seu|mal|bitte|"
    r"pls|plz|please|again|moi|me)"
)
_LINK = r"(?:link|lien|enlace|url|site|website|shop|store|boutique|tienda|negozio|loja)"

_RULES: dict[Intent, tuple[str, ...]] = {
    Intent.ASKS_LINK: (
        # en
        rf"\b(?:send|drop|give|share|dm|pass|shoot|text|resend|post)\s+(?:me\s+|us\s+)?"
        rf"(?:the|ur|your|that|da|de|a)\s+{_LINK}\b",
        rf"(?:^|\b(?:the|ur|your)\s+){_LINK}\s*(?:pls|plz|please|\?|!|🙏|$)",
        rf"\b(?:what'?s|whats|what is|where'?s|wheres|where is|got|have you got)\s+"
        rf"(?:the|ur|your|that|a)\s+{_LINK}\b",
        r"\bis there an?\s+(?:link|website|shop|store)\b",
        rf"(?<!t')(?<!\bte )\b{_SEND}(?:[- ](?:me|moi|mir|mi|us|nos))?(?:\s+{_FILLER}){{0,2}}\s+"
        r"(?:link|lien|enlace|url)\b",
        rf"\b(?:me lo|me la|mi|me|mir|m')\s*(?:mandi|passi|giri|{_SEND})\s+(?:{_FILLER}\s+)?"
        r"(?:link|lien|enlace)\b",
        rf"\b(?:puedes|podes|podrias|pode|poderia|puoi|potresti|kannst du|kannste|tu peux)\s+"
        rf"(?:me\s+|mi\s+|mir\s+|m')?{_SEND_INF}(?:me|mi)?\s+(?:{_FILLER}\s+)?"
        r"(?:link|lien|enlace)\b",
        rf"\bmir\s+(?:mal\s+|bitte\s+)*(?:den|deinen|nen)\s+link\s+{_SEND_INF}\b",
        r"\bwhere\s+(?:can|do|could|should|would)\s+(?:i|we|one)\s+"
        rf"(?:get|buy|find|order|download|purchase|grab|cop|pay){_OBJ_OR_END}",
        r"\bhow\s+(?:can|do|could|would|should)\s+(?:i|we|one)\s+"
        rf"(?:get|buy|order|purchase|download|grab|cop|pay for){_OBJ_OR_END}",
        r"\b(?:want|wanna|would like|'d like|need)\s+to\s+(?:buy|order|purchase|get)"
        rf"{_OBJ_OR_END}",
        # fr
        r"(?<!t')(?<!\bte )\b(?:m'|me\s)?(?:envoie|envoies|envoyer|envoyez|donne|donner|passe|"
        r"passer|file|filer|balance|mets|mettre)(?:[- ]moi)?\s+(?:le|ton|ce|un)\s+lien\b",
        r"\b(?:le|ton)\s+lien\s*(?:stp|svp|please|pls|\?|!|$|steuplait|s'il te plait)",
        r"\b(?:je veux|jveux|je voudrais|j'aimerais|je peux avoir|tu as|t'as|t'aurais|"
        r"c'est quoi|il est ou|ou est)\s+(?:le|ton)\s+lien\b",
        r"^c'?\s?est\s+ou\s*\W*$",
        r"\bou\s+(?:est-ce que\s+)?(?:je peux|on peut|je|on|puis-je)\s+"
        r"(?:les\s+|l'|le\s+|la\s+)(?:acheter|achete|trouver|trouve|avoir|commander|"
        r"telecharger|prendre)\b",
        r"\bcomment\s+(?:on\s+fait|je\s+fais|faire|je peux|on peut|tu fais)\s+pour\s+"
        r"(?:les|l'|le|la|en)\s*(?:avoir|acheter|commander|recevoir|obtenir)\b",
        r"\b(?:ou|comment)\s+(?:je\s+peux\s+|on\s+peut\s+)?(?:les|l')\s*"
        r"(?:acheter|avoir|trouver|commander)\b",
        r"\bje\s+(?:veux|voudrais|vais|aimerais)\s+(?:les|l')\s*(?:acheter|commander)\b",
        r"\b(?:je|on)\s+(?:les|l')\s*(?:trouve|achete|commande|telecharge|prend)\s+ou\b",
        r"\bou\s+(?:ca|est-ce que ca|qu'on)\s+(?:s'?\s?achete|se trouve|les achete)\b",
        # es
        rf"\bdonde\s+{_CLITIC}\s*(?:compro|consigo|encuentro|pido|descargo|"
        r"puedo comprar|puedo conseguir)\b",
        r"\bdonde\s+(?:puedo|se pueden|se puede|podria)\s+(?:comprar|conseguir|descargar|"
        r"encontrar|pedir)(?:los|las|lo|la|\s*(?:$|[^\w\s']))",
        r"\b(?:pasa|pasame|manda|mandame|envia|enviame|dame|me pasas|me mandas)\s+"
        r"(?:el|tu|ese)\s+(?:link|enlace)\b",
        r"\b(?:el\s+)?(?:link|enlace)\s*(?:porfa|por favor|pls)\b",
        rf"\bcomo\s+{_CLITIC}\s*(?:consigo|compro|pido|obtengo|descargo|puedo comprar|"
        r"puedo conseguir)\b",
        r"\b(?:quiero|quisiera|me gustaria)\s+(?:comprar|conseguir|pedir)(?:los|las)\b",
        r"\bdonde\s+se\s+(?:compran|consiguen|compra|consigue|piden)\b",
        # it
        rf"\bdove\s+{_CLITIC}\s*(?:compro|trovo|prendo|ordino|scarico|posso comprare|"
        r"posso trovare)\b",
        r"\bdove\s+(?:posso|si possono|si puo|potrei)\s+(?:comprar|trovar|prender|ordinar|"
        r"scaricar)(?:li|le|lo|la)\b",
        r"\b(?:mandami|mandarmi|inviami|passami|dammi|girami|mi mandi|mi passi)\s+"
        r"(?:il|quel)\s+link\b",
        rf"\bcome\s+{_CLITIC}\s*(?:posso\s+)?(?:avere|comprare|compro|ordino|prendo|ottengo|"
        r"ottenere|ordinare|prendere)\b",
        r"\b(?:voglio|vorrei)\s+(?:comprar|ordinar|acquistar)(?:li|le|lo|la)\b",
        r"\bdove\s+si\s+(?:comprano|trovano|prendono|ordinano|scaricano|compra|trova|scarica)\b",
        # de
        r"\b(?:schick|schicke|schickst|gib|sende)(?:\s+(?:mir|mal|bitte|doch|du)){0,3}\s+"
        r"(?:den|deinen|nen)\s+link\b",
        r"(?:^|\b(?:den|dein)\s+)link\s+(?:bitte|pls|please)\b",
        r"\b(?:wo|wie)\s+(?:kann|konnte)\s+(?:ich|man)\s+(?:die|sie|das|diese|deine|es|den)"
        rf"(?:\s+{_PRODUCT})?\s+(?:kaufen|bestellen|bekommen|herunterladen|holen|kriegen)\b",
        r"\bwo\s+(?:gibt'?s|gibt es|bekomm\w*|krieg\w*|kauf\w*)\s+(?:ich\s+|man\s+)?"
        rf"(?:die|sie|das|diese)(?:\s+{_PRODUCT})?\s*(?:$|[^\w\s'])",
        r"\bwie\s+(?:komme|kommt|kriege|krieg)\s+(?:ich|man)\s+an\s+(?:die|deine|diese|das)\b",
        r"\bich\s+(?:will|mochte|wurde)\s+(?:sie|die|das|es|diese)(?:\s+gerne?)?\s+"
        r"(?:kaufen|bestellen)\b",
        # pt
        r"\bonde\s+(?:eu\s+)?(?:compro|consigo|encontro|baixo|pego|posso comprar|da pra comprar)"
        rf"(?=\s*(?:$|[^\w\s']|eles|isso|(?:os|esses|estes|seus|teus)\s+{_PRODUCT}))",
        r"\b(?:manda|mande|passa|passe|envia|envie|mandar|passar)\s+(?:ai\s+)?(?:o|esse|teu|seu)"
        r"\s+link\b",
        r"\bcade\s+o\s+link\b|\bqual\s+(?:e\s+)?o\s+link\b",
        r"\bonde\s+se\s+(?:compra|consegue|acha)\b",
        r"\bcomo\s+(?:eu\s+)?(?:faco|faz)\s+(?:pra|para)\s+(?:comprar|adquirir|baixar|ter|pegar)\b",
        r"\b(?:quero|queria|gostaria de)\s+comprar(?=\s*(?:$|[^\w\s']|os\b|eles|esses|seus|teus))",
    ),
    Intent.ASKS_PRICE: (
        # en
        r"\bhow much(?=\s*(?:$|[^\w\s']|(?:is|are|'s|r|for|would|will|they|it|tho|pls|please|"
        r"and|then|rn|lol|money|do (?:u|you) (?:charge|sell|want|ask)|"
        r"(?:do|does) (?:they|it|these|those|this|the\s+\w+|your\s+\w+) cost)\b))",
        r"\b(?:what'?s|whats|what is|what are|wats)\s+(?:the\s+|ur\s+|your\s+)?"
        r"(?:price|prices|pricing|cost)\b(?!\s+of\s+(?!them|it|these|those))",
        r"^(?:the\s+|ur\s+|your\s+)?(?:price|prices|pricing|cost)\s*(?:\?|pls|please|$)",
        r"\b(?:are|r|is)\s+(?:they|these|those|it|the presets|ur presets|your presets|the pack)\s+"
        r"(?:expensive|pricey|cheap|free|paid|costly)\b",
        r"\b(?:do|does)\s+(?:they|it|these|the presets|the pack)\s+cost\b",
        r"\bhow\s+(?:expensive|pricey)\b",
        # fr
        r"\bcombien(?=\s*(?:$|[^\w\s']|(?:ca|c'est|coute|coutent|les|le|la|pour|tu les|ils|"
        r"elles|vous)\b))",
        r"\b(?:quel|c'est quoi|c quoi)\s+(?:est\s+)?(?:le|ton|leur|son)\s+prix\b",
        r"(?:^|\ble\s+)prix\s*\?",
        r"\b(?:ca|ils|elles)\s+coute(?:nt)?\s+(?:cher|combien)\b",
        r"\bc'est (?:cher|gratuit|payant)\s*\?",
        # es
        r"\bcuanto\s+(?:cuesta|cuestan|vale|valen|sale|salen|es|son|cobras|pides|costaria)\b",
        r"\b(?:que|cual es el)\s+precio\b|(?:^|\bel\s+)precio\s*\?",
        r"\b(?:son|es|estan)\s+(?:caros?|caras?|gratis|baratos?)\s*\?",
        r"\b(?:cuesta|cuestan)\s+(?:mucho|caro|poco)\b",
        # it
        r"\bquanto\s+(?:costa|costano|viene|vengono|li vendi|costerebbe)\b",
        r"\bqual\s*(?:e|'e)?\s+il\s+prezzo\b|(?:^|\bil\s+)prezzo\s*\?",
        r"\b(?:sono|e)\s+(?:cari|care|caro|cara|gratis|gratuiti)\s*\?",
        r"\b(?:costa|costano)\s+(?:tanto|molto|poco|caro|cari)\b",
        # de
        r"\bwas\s+(?:kostet|kosten|kostest|verlangst)\b",
        r"\bwie\s*viel\s+(?:kostet|kosten|kostest|verlangst)\b",
        r"\bwie\s+teuer\b|(?:^|\bder\s+)preis\s*\?",
        r"\b(?:sind die|ist das|sind sie)\s+(?:teuer|kostenlos|gratis)\b",
        # pt
        r"\b(?:quanto|qto|qnto|qnt)\s+(?:que\s+)?"
        r"(?:custa|custam|e|eh|sai|saem|fica|ficam|cobra|ta)\b",
        r"\b(?:custa|custam)\s+(?:caro|muito)\b|\b(?:kosten|kostet)\s+(?:die|das|sie)\s+viel\b",
        r"\bqual\s+(?:e\s+)?o\s+(?:preco|valor)\b|(?:^|\bo\s+)(?:preco|valor)\s*\?",
        r"\b(?:e|sao|eh)\s+(?:caro|caros|cara|caras|gratis|de graca)\s*\?",
    ),
    Intent.INTERESTED: (
        # en
        r"\bi\s+(?:really\s+|rly\s+|so\s+|totally\s+|def\s+|definitely\s+|just\s+)?"
        r"(?:want|need|neee+d|wan+t)\s+(?:them|these|those|em|'em|the presets|your presets|"
        r"ur presets|the pack)\b",
        r"(?:^|[.,!?]\s*)(?:really\s+|so\s+)?(?:want|need|neee+d)\s+(?:them|these|those|em|'em)\b"
        r"(?!\s+to\b)",
        r"\bi\s+(?:really\s+|so\s+)?(?:want|need)\s+(?:it|this)(?=\s*(?:$|[^\w\s']|so bad|now))",
        r"\bi'?d\s+love\s+to\s+(?:try|get|buy|have|test)\s+(?:them|these|those|it|your|ur|the)\b",
        r"\b(?:sign me up|count me in|take my money|i'?m sold|i'?ll take (?:them|it|one))\b",
        r"\bi'?m\s+(?:so\s+|totally\s+|100%\s+|def\s+|definitely\s+)?in\s*(?:$|[!.]|🙌)",
        r"\bi'?m\s+(?:def(?:initely)?\s+|so\s+|totally\s+|100%\s+)?(?:buying|getting|ordering)"
        r"(?=\s*(?:$|[^\w\s']|(?:them|these|it|one)\b))",
        r"\bi'?m\s+(?:so\s+|very\s+|really\s+|super\s+|def\s+|definitely\s+)?interested\b"
        r"(?!\s+in\s+(?!them|it|these|those|the presets|your presets|buying|getting))",
        r"\b(?:want|wanna|would like|'d like|need)\s+to\s+(?:buy|order|purchase|get)"
        rf"{_OBJ_OR_END}",
        # fr
        r"\bje\s+(?:les|la|le)\s+veux\b(?!\s+(?:pas|plus))|\bj'en veux\b(?!\s+(?:pas|plus))",
        r"\b(?:ca|c)\s+m'?\s?interesse\b(?!\s+(?:pas|plus|moyen))",
        r"(?:^|\b(?:je\s+suis|jsuis|chuis|suis|grave|trop|tres|super|vraiment)\s+)interessee?s?\b"
        r"(?!\s+par\s+(?!les|tes))",
        r"\b(?:ca|c)\s+me\s+tente\b(?!\s+(?:pas|moyen))|\bje\s+(?:les|le|la)\s+prends\b",
        r"\bj'?\s?en ai\s+(?:trop\s+|tellement\s+|grave\s+|vraiment\s+)?envie\b",
        r"\bje\s+(?:veux|voudrais|vais|aimerais)\s+(?:(?:trop|vraiment|grave|tellement|bien)\s+)?"
        r"(?:les|l')\s*(?:acheter|commander|prendre|"
        r"essayer|tester|avoir)\b",
        # es
        r"\bme\s+interesa(?:n)?\b(?!\s+(?:nada|poco))",
        r"\b(?:los|las)\s+(?:quiero|necesito)\b",
        r"\bquiero\s+(?:comprar(?:los|las|lo)|probar(?:los|las)|tener(?:los|las)|"
        r"los presets|tus presets)\b",
        r"\bme\s+(?:los|las)\s+llevo\b(?=\s*(?:$|[^\w\s']|(?:todos|todas|ya)\b))",
        r"\bme\s+encantaria\s+(?:probar|tener|comprar)(?:los|las|lo)\b",
        # it
        r"\bmi\s+interessa(?:no)?\b|\b(?:li|le)\s+voglio\b",
        r"\bsono\s+(?:molto\s+|super\s+)?interessat[aoie]\b",
        r"\b(?:li|le)\s+prendo\b(?=\s*(?:$|[^\w\s']|(?:tutti|tutte|subito)\b))",
        r"\bvoglio\s+(?:comprar|prender|provar|aver)(?:li|le)\b",
        # de
        r"\bich\s+(?:will|mochte|brauche|brauch)\s+(?:die|sie|das|diese|deine presets)\s+"
        r"(?:unbedingt\s+|gern\s+|gerne\s+)?(?:haben|kaufen|bestellen|ausprobieren|testen)\b",
        r"\b(?:hab|habe|hatte)\s+(?:grosses\s+|echt\s+)?interesse\b",
        r"\b(?:ich bin|bin)\s+dabei\b",
        r"\b(?:die|sie|das)\s+(?:will|brauch|brauche|muss)\s+ich\b(?:\s+(?:unbedingt\s+)?"
        r"(?:haben|kaufen|ausprobieren)\b|\s*(?:$|[^\w\s']))",
        # pt
        r"^quero+(?:\s+(?:muito|mt|mto|sim|demais|ja))*\W*$",
        r"\bquero\s+(?:muito\s+)?(?:esses?|eles|os presets|seus presets|teus presets)\b",
        r"\bquero\s+comprar(?=\s*(?:$|[^\w\s']|os\b|eles|esses|seus|teus))",
        r"\b(?:to|tou|estou|fiquei|eu to)\s+(?:muito\s+|super\s+)?interessad[ao]s?\b",
        r"\bvou\s+(?:levar|comprar)(?=\s*(?:$|[^\w\s']|eles|esses|os\b))",
        r"\btenho\s+interesse\b|\bme\s+interess(?:a|ei)\b",
    ),
    Intent.EXPLICIT: (
        r"\bnudes\b|\bnude\s+(?:pics?|photos?|selfies?|fotos?)\b",
        r"\b(?:send|manda|envoie|schick|mandami)\s+(?:me\s+|moi\s+|mir\s+)?(?:a\s+|une?\s+)?nude\b",
        r"\bonlyfans\b|\bfansly\b|\bsext(?:ing|ed|s)?\b",
        r"^(?:send|show)\s+(?:me\s+)?(?:more\s+)?(?:pics|pictures|photos|a pic|a photo)"
        r"(?:\s+(?:of you|pls|please|babe))?\W*$",
        r"\b(?:spicy|sexy|dirty|naughty|lewd|private|hot)\s+(?:pics?|photos?|selfies?|content|"
        r"vids?|videos?|bild|bilder|foto)\b",
        r"\bshow me (?:more of )?(?:you|yourself|your body|ur body)\b(?!\s+(?:in|at|on)\s)"
        r"(?=\s*(?:$|[^\w\s']))",
        r"\b(?:pics?|photos?|fotos?|bild(?:er)?|selfies?)\b[^.?!]{0,30}\b(?:en|in|wearing|im|de)\s+"
        r"(?:your\s+|ur\s+|a\s+|un\s+|une?\s+|il\s+|dem\s+)?(?:bikini|lingerie|underwear|"
        r"maillot|sous-vetements|petite tenue|costume|ropa interior|unterwasche|dessous|biquini|"
        r"calcinha|roupa intima)\b",
        r"\b(?:pic|photo|picture|selfie)s?\s+(?:of you\s+)?(?:in|wearing)\s+(?:your\s+|a\s+|ur\s+)?"
        r"(?:bikini|lingerie|underwear|bra|swimsuit|nothing)\b",
        r"\b(?:send|show)\s+(?:me\s+)?(?:an?\s+)?(?:selfie\b(?!\s+(?:of|from|at|in)\s+(?!you))|"
        r"(?:pic|photo|picture) of (?:you|yourself)\b)",
        r"\b(?:une photo de toi|una foto tuya|una tua foto|ein bild von dir|ein foto von dir|"
        r"uma foto sua|uma foto tua)\b",
        r"\b(?:something|anything|smth|sth)\s+(?:spicy|sexy|naughty|dirty|hot|private)\b",
        r"\bwhat'?s under\b|\bnaked\b(?!\s+eye)|\bwithout (?:your |ur )?clothes\b",
        # fr
        r"\bphotos?\s+(?:coquines?|sexy|hot|osees?|nues?|intimes?|privees?)\b",
        r"\ba poil\b|\btoute nue\b|\bsans (?:tes )?vetements\b",
        # es
        r"\bfotos?\s+(?:hot|sexys?|desnuda|desnudas|picantes|sin ropa|intimas|calientes)\b",
        r"\bsin ropa\b|\bdesnuda\b",
        # "pasame el pack" is slang for nudes; "el pack de presets" is the offer
        r"\b(?:pasa|pasame|pasas|manda|mandame|mandas|me pasas)\s+(?:el|tu)\s+pack\W*$",
        # it
        r"\bfoto\s+(?:piccanti|hot|sexy|nuda|nude|ose|senza vestiti|intime)\b|\bsenza vestiti\b",
        # de
        r"\bnackt(?:bilder?|fotos?)?\b",
        r"\b(?:heisse|sexy|freizugige|versaute)\s+(?:fotos|bilder|pics)\b",
        # pt
        r"\bfotos?\s+(?:mais\s+)?(?:pelada|peladas|nua|nuas|sensua(?:l|is)|hot|quentes|picantes|"
        r"intimas)\b|\bpelada\b",
    ),
    Intent.OUT_OF_SCOPE: (
        # en
        r"\b(?:can|could|should|shall|would|will)\s+(?:we|i|u|you)\s+(?:ever\s+)?"
        r"(?:meet|hang out|link up|see each other|see you)\b",
        r"\b(?:let'?s|lets|wanna|want to|we should|we could|would love to)\s+(?:meet|hang out|"
        r"link up|grab|get (?:a )?(?:coffee|drink|drinks|dinner))\b",
        r"\bmeet (?:up|irl|in person|in real life)\b",
        r"\bgrab (?:a |some )?(?:coffee|drink|drinks|dinner|lunch)\b",
        r"\b(?:can|could|may|shall|should)\s+(?:i|we)\s+(?:call|ring|facetime|phone)\b",
        r"\b(?:call|ring)\s+me\b(?!\s+(?:crazy|whatever|when))",
        r"\b(?:video|phone|voice|quick|zoom|skype)[\s-]?calls?\b|\bfacetime\b|\bvideo\s?chat\b",
        r"\b(?:your|ur|you'?r)\s+(?:phone\s+|cell\s+|mobile\s+|whatsapp\s+|telegram\s+)?"
        r"(?:number|digits|phone|whatsapp|telegram|snap|snapchat|address|addy|email)\b(?!\s+one)",
        r"\b(?:do|have|got)\s+(?:you|u)\s+(?:have\s+|got\s+)?(?:an?\s+)?(?:whatsapp|telegram|snap|"
        r"snapchat|signal|wechat|kik|phone number)\b",
        r"\b(?:add|text|message|dm|hit)\s+me\s+(?:on|up on)\s+(?:whatsapp|telegram|snap|"
        r"snapchat|signal)\b",
        r"\bwhere\s+(?:exactly\s+)?(?:do|d'?you|r)\s+(?:you|u)\s+live\s+"
        r"(?:exactly|precisely|specifically)\b",
        r"\bwhat\s+(?:city|street|neighbou?rhood|area)\s+do\s+(?:you|u)\s+live\b",
        r"\b(?:go|going)\s+(?:on|out on)\s+a\s+date\b|\b(?:date|marry)\s+me\b",
        r"\bbe my (?:girlfriend|gf|boyfriend|bf|valentine)\b",
        # fr
        r"\bon\s+se\s+(?:voit|voie)\b[^.!]*\?|\bon\s+se\s+voit\s+quand\b",
        r"\bon\s+(?:se\s+rencontre|se\s+capte|se\s+retrouve|s'?\s?appelle|"
        r"(?:peut|pourrait)\s+(?:se\s+voir|se\s+rencontrer|s'?\s?appeler)|"
        r"(?:boit|prend|se fait)\s+un\s+(?:verre|cafe|resto))\b",
        r"\b(?:ton|ta|tes)\s+(?:numero|num|tel|telephone|06|whatsapp|telegram|snap|adresse)\b",
        r"\b(?:t'as|tu as|t as|as-tu|tu aurais|t'aurais)\s+(?:un\s+)?(?:whatsapp|telegram|snap|"
        r"snapchat|numero|06)\b",
        r"\b(?:t'?\s?habites|tu habites|tu vis)\s+ou\s+(?:exactement|precisement)\b",
        r"\bqu'on se (?:voie|voit|rencontre|capte)\b",
        r"\bun\s+(?:rencard|rendez-vous|rdv)\b|\bsortir avec moi\b",
        r"\b(?:veux|voudrais|aimerais|peux|pourrais|vais|on pourrait)\s+(?:te|vous)\s+"
        r"(?:voir|rencontrer|appeler)\b",
        # es
        r"\bquedamos\b|\bquedar\s+(?:contigo|conmigo|un dia|para)\b",
        r"\b(?:nos vemos|nos conocemos)\b[^.!]*\?",
        r"\b(?:nos\s+)?tomamos\s+(?:algo|un cafe)\b",
        r"\b(?:tu|tus)\s+(?:numero|num|telefono|cel|celular|whatsapp|wasap|wsp|telegram|"
        r"direccion|snap)\b",
        r"\b(?:tienes|tenes|tiene)\s+(?:whatsapp|wasap|wsp|telegram|snap|numero)\b",
        r"\bdonde\s+vives\s+(?:exactamente|exacto|en concreto)\b",
        r"\bvideollamada\b|\bllamarte\b|\bte llamo\b|\bsalir conmigo\b|\buna cita\b",
        # it
        r"\bci\s+(?:vediamo|incontriamo)\b[^.!]*\?",
        r"\bci\s+(?:beviamo|prendiamo)\s+un\b",
        r"\btuo\s+(?:numero|telefono|cellulare|whatsapp|telegram|indirizzo|snap)\b",
        r"\bhai\s+(?:whatsapp|telegram|snap|un numero)\b",
        r"\bdove\s+(?:abiti|vivi)\s+(?:di preciso|esattamente|precisamente)\b",
        r"\busciamo\b|\buscire\s+(?:con me|insieme)\b|\bun appuntamento\b",
        r"\bvideochiamata\b|\bchiamarti\b|\bti chiamo\b|\bvederci\b|\bincontrarci\b",
        # de
        r"\btreffen\s+wir\s+uns\b|\b(?:wollen|konnen|sollen)\s+wir\s+uns\s+(?:mal\s+)?treffen\b",
        r"\blass\s+uns\s+(?:mal\s+)?treffen\b|\bein date\b|\bsehen wir uns\b",
        r"\b(?:konnen|wollen|sollen) wir uns (?:mal )?sehen\b",
        r"\b(?:gehen wir|wollen wir|sollen wir|lass uns)\b[^.?!]{0,25}\b"
        r"(?:trinken|essen|treffen|ausgehen)\b",
        r"\b(?:deine|deinen|dein)\s+(?:nummer|handynummer|telefonnummer|adresse|whatsapp|"
        r"telegram|snap)\b",
        r"\bhast du\s+(?:whatsapp|telegram|snap|snapchat|ne nummer|eine nummer)\b",
        r"\bwo\s+wohnst\s+du\s+(?:denn\s+)?genau\b",
        r"\btelefonieren\b|\bvideo-?anruf\b|\bvideocall\b|\bruf mich an\b|\banrufen\b",
        # pt
        r"\b(?:vamos|bora|podemos|da pra)\s+(?:nos\s+|se\s+)(?:encontrar|ver|conhecer)\b",
        r"\b(?:vamos|bora|podemos|da pra)\s+(?:nos\s+)?(?:encontrar|sair|marcar|tomar um)\b",
        r"\b(?:seu|teu)\s+(?:numero|zap|whats|whatsapp|telegram|telefone|celular|endereco)\b",
        r"\b(?:insta|instagram|ig|compte|cuenta|account)\s+(?:pessoal|privado|perso|personnel|"
        r"personal|privato|privat|private)\b",
        r"\b(?:private|personal|finsta)\s+(?:insta|ig|account)\b",
        r"\b(?:tem|voce tem|vc tem|tens)\s+(?:whatsapp|whats|zap|telegram|numero)\b",
        r"\bonde\s+(?:vc|voce|tu)\s+mora\s+(?:exatamente|exato)\b",
        r"\bchamada de video\b|\bvideochamada\b|\bte ligar\b|\bme liga\b",
        # "add me on whatsapp" in the six languages: a request to move off Instagram
        r"\b(?:ajoute|ecris|appelle|contacte|rejoins)[- ]moi\s+sur\s+(?:whatsapp|telegram|snap)\b",
        r"\b(?:escribime|escribeme|agregame|llamame|hablame)\s+(?:por|al|en)\s+(?:whatsapp|wsp|"
        r"wasap|telegram)\b",
        r"\b(?:scrivimi|aggiungimi|chiamami)\s+su\s+(?:whatsapp|telegram|snap)\b",
        r"\b(?:schreib|adde|ruf)\s+mich\s+(?:auf|bei|uber)\s+(?:whatsapp|telegram|snap)\b|"
        r"\bschreib\s+mir\s+(?:auf|bei|uber)\s+(?:whatsapp|telegram)\b",
        r"\bme\s+(?:chama|add|adiciona|liga|manda msg)\s+no\s+"
        r"(?:zap|whats|whatsapp|wpp|telegram)\b",
    ),
}

# A negation just before the match cancels these ("I don't want to meet you").
_NEGATABLE = frozenset({Intent.ASKS_LINK, Intent.INTERESTED, Intent.OUT_OF_SCOPE})

_COMPILED: dict[Intent, re.Pattern[str]] = {
    intent: re.compile("|".join(f"(?:{p})" for p in patterns))
    for intent, patterns in _RULES.items()
}


def _found(intent: Intent, pattern: re.Pattern[str], folded: str) -> bool:
    for match in pattern.finditer(folded):
        if intent not in _NEGATABLE or not negated_at(folded, match.start()):
            return True
    return False


def detect_intents(text: str) -> frozenset[Intent]:
    """Every intent the message carries (possibly none)."""
    folded = fold(text)
    return frozenset(
        intent for intent, pattern in _COMPILED.items() if _found(intent, pattern, folded)
    )
