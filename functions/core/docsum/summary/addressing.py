"""Words a summary never says to its reader: links, e-mail addresses, phone numbers and
instructions (prompt injection obeyed). A summary describes its document; what the document
asks of its readers can be reported ("the notice asks readers to ..."), never passed on."""

from __future__ import annotations

import re

_CONTACTS = re.compile(
    r"\bhttps?://|\bwww\.|\b[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}/\S"  # links, bare or not
    r"|[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail
    r"|\+\d[\d ().-]{6,}\d|\(\d{2,5}\) ?\d[\d -]{4,}\d|\b\d{3}[-. ]\d{3}[-. ]\d{4}\b",  # phones
    re.IGNORECASE,
)
_TELLS_THE_READER = re.compile(
    "|".join(
        [
            # en
            r"\b(?:you|readers?|users?|customers?|everyone) (?:must|should|need to|have to"
            r"|are (?:required|asked|urged) to)\b",
            r"\bplease\b|\bdo not (?:ignore|delay|wait)\b",
            r"(?:^|[.!?:]\s+|- )(?:click|visit|call|contact|send|enter|re-enter|log ?in|sign in"
            r"|verify|confirm|update|reply|download|install|go to|ignore|forward|transfer)\b",
            # de
            r"\b(?:Sie|Leser(?:innen)?|Nutzer(?:innen)?|Kunden) (?:müssen|sollten|sollen)\b",
            r"\bbitte\b|\b(?:klicken|besuchen|rufen|geben|melden|senden|bestätigen"
            r"|aktualisieren|kontaktieren|überweisen) Sie\b",
            # fr
            r"\b(?:vous|les lecteurs|les utilisateurs) (?:devez|devriez|doivent|devraient)\b",
            r"\bveuillez\b|\b(?:cliquez|visitez|appelez|contactez|envoyez|saisissez"
            r"|connectez-vous|confirmez|mettez à jour)\b",
            # es
            r"\b(?:usted|los lectores|los usuarios) (?:debe|deben|debería|deberían)\b",
            r"\bpor favor\b|\b(?:haga clic|visite|llame|contacte|envíe|introduzca|ingrese"
            r"|confirme|actualice)\b",
            # it, pt, nl: modal verbs anywhere, imperatives (often also nouns) first in a sentence
            r"\b(?:i lettori|gli utenti|voi) (?:devono|dovete|dovrebbero)\b|\bper favore\b",
            r"\b(?:os leitores|os utilizadores|os usuários|você|vocês) (?:devem|deve|deveriam)\b",
            r"\b(?:lezers|gebruikers|u) (?:moeten|moet|dient|dienen)\b",
            r"(?:^|[.!?:]\s+|- )(?:clicca|visita|chiama|inserisci|conferma|clique|visite|ligue"
            r"|insira|confirme|atualize|klik|bezoek|bel|vul|bevestig)\b",
        ]
    ),
    re.IGNORECASE | re.MULTILINE,
)


def addresses_reader(text: str) -> str | None:
    """What in `text` is a link, contact detail or instruction to its reader (None: nothing)."""
    match = _CONTACTS.search(text) or _TELLS_THE_READER.search(text)
    return match.group(0).strip(" .!?:-") if match else None
