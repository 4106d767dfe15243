#!/usr/bin/env python3
"""Writes eval/data/pii_cases.jsonl: customer messages in French and English, each with the
personal data it holds (type and exact value) and none for what must stay (order numbers,
dates, prices, product and parcel codes, non-personal links).

The values follow their real rules (IBAN ISO 7064 checksums, Luhn with each card network's
prefix and length, NIR keys, numbering plans) and the sentences are written
by hand, so a detector is judged on formats and contexts, not on one string. No value is anybody's: phone
numbers come from the blocks regulators keep for fiction (checked valid with Google's
libphonenumber, the `phonenumbers` package), e-mail domains are reserved example domains, card
numbers are processors' published test numbers, and NIRs use order number 000, never issued. Seeded: running it again gives the same file.
Run: pip install phonenumbers==9.0.43 && python3 eval/data/make_pii_cases.py
"""
import json
import random
import string
from pathlib import Path

import phonenumbers

R = random.Random(2026)


def iban(country, bban):
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(digits) % 97
    return f"{country}{check:02d}{bban}"


def grouped(s, n=4):
    return " ".join(s[i:i + n] for i in range(0, len(s), n))


def nir():
    sex = R.choice("12")
    year = f"{R.randrange(40, 100):02d}"
    month = f"{R.randrange(1, 13):02d}"
    dept = R.choice(["75", "69", "13", "33", "59", "2A", "2B", "44", "06"])
    commune = f"{R.randrange(1, 999):03d}"
    # Order 000 is never issued: the number has a valid key and is nobody's.
    order = "000"
    body = sex + year + month + dept + commune + order
    key = 97 - int(body.replace("2A", "19").replace("2B", "18")) % 97
    return f"{sex} {year} {month} {dept} {commune} {order} {key:02d}"


FIRST = ["Claire", "Léa", "Hugo", "Jean-Marc", "Émilie", "Sophie", "Thomas", "Chloé", "John", "Sarah", "Mohamed", "Inès"]
LAST = ["Dupont", "Martin", "Lefèvre", "Nguyen", "Le Gall", "Bernard", "O'Brien", "Smith", "Fontaine", "Benali", "Moreau"]
# Reserved for examples (RFC 2606 and RFC 6761): no real mailbox is named.
DOMAINS = ["example.com", "example.org", "example.net", "mail.example", "courriel.example", "sub.example.com"]


def email():
    first, last = R.choice(FIRST), R.choice(LAST)
    local = R.choice([f"{first}.{last}", f"{first[0]}{last}", f"{last}{R.randrange(10, 99)}", f"{first}_{last}"])
    local = local.lower().replace(" ", "").replace("'", "").replace("é", "e").replace("è", "e").replace("É", "e")
    return f"{local}@{R.choice(DOMAINS)}"


# Numbers set aside for fiction, so that no real subscriber is in the set: ARCEP's 01 99 00,
# 02 61 91, 03 53 01, 04 65 71 and 05 36 49 blocks, and Ofcom's 020 7946 0xxx (libphonenumber
# counts ARCEP's fictional mobile block 06 39 98 as unallocated, so mobiles' written forms are
# tried on these).
FICTION_FR = ["01 99 00", "02 61 91", "03 53 01", "04 65 71", "05 36 49"]


def french_written_forms():
    digits = (R.choice(FICTION_FR) + f" {R.randrange(100):02d} {R.randrange(100):02d}").replace(" ", "")
    return R.choice([
        " ".join(digits[i:i + 2] for i in range(0, 10, 2)),
        ".".join(digits[i:i + 2] for i in range(0, 10, 2)),
        digits,
        "+33 " + digits[1] + " " + " ".join(digits[i:i + 2] for i in range(2, 10, 2)),
        "+33 (0)" + digits[1] + " " + " ".join(digits[i:i + 2] for i in range(2, 10, 2)),
        "0033 " + digits[1:2] + " " + " ".join(digits[i:i + 2] for i in range(2, 10, 2)),
    ])


def french_landline():
    return R.choice(FICTION_FR) + f" {R.randrange(100):02d} {R.randrange(100):02d}"


def foreign_phone():
    return R.choice([f"+44 20 7946 0{R.randrange(100, 999)}", f"020 7946 0{R.randrange(100, 999)}"])


# Payment processors' published test numbers: valid by Luhn and network, issued to nobody.
TEST_CARDS = ["4111111111111111", "4012888888881881", "5555555555554444", "5105105105105100", "378282246310005",
              "371449635398431", "6011111111111117", "6011000990139424", "4000056655665556", "5200828282828210"]


def card():
    number = R.choice(TEST_CARDS)
    return R.choice([grouped(number), number, "-".join(number[i:i + 4] for i in range(0, len(number), 4))])


def an_iban():
    bban = R.choice([
        ("FR", "".join(R.choice(string.digits) for _ in range(10)) + "".join(R.choice(string.digits) for _ in range(11)) + f"{R.randrange(10, 99)}"),
        ("DE", "".join(R.choice(string.digits) for _ in range(18))),
        ("BE", "".join(R.choice(string.digits) for _ in range(12))),
        ("ES", "".join(R.choice(string.digits) for _ in range(20))),
    ])
    value = iban(*bban)
    return R.choice([grouped(value), value])


def personal_url():
    token = "".join(R.choice(string.ascii_letters + string.digits) for _ in range(R.randrange(18, 32)))
    if not any(c.isdigit() for c in token):
        token += "7"
    return R.choice([
        f"https://espace-client.exemple.fr/suivi?token={token}",
        f"https://shop.example.com/account/reset/{token}",
        f"http://www.exemple.fr/desabonnement?email={email()}",
        f"https://app.example.com/orders?session={token[:20]}&lang=fr",
    ])


def allocated(make):
    """A number from `make` that the numbering plan of its country allocates."""
    for _ in range(1000):
        number = make()
        written = "+" + number[2:] if number.startswith("00") else number
        region = None if written.startswith("+") else ("GB" if number.startswith("020") else "FR")
        if phonenumbers.is_valid_number(phonenumbers.parse(written.replace("(0)", ""), region)):
            return number
    raise AssertionError(f"{make.__name__} makes no valid number")


def person():
    return R.choice(FIRST) + " " + R.choice(LAST)


# Sentences with slots: {email} {phone} {iban} {card} {nir} {url} {name} {surname}.
POSITIVE = [
    ("fr", "Bonjour, je m'appelle {name}, ma commande n'est jamais arrivée."),
    ("fr", "Merci de me rappeler au {phone}, je suis disponible l'après-midi."),
    ("fr", "Vous pouvez me joindre par mail : {email}"),
    ("fr", "Remboursez-moi sur mon compte {iban} s'il vous plaît."),
    ("fr", "Ma carte {card} a été débitée deux fois !"),
    ("fr", "Mon numéro de sécurité sociale est le {nir}, la mutuelle ne rembourse rien."),
    ("fr", "Le lien {url} ne fonctionne pas."),
    ("fr", "Très bien accueillie par Mme {surname} en magasin, merci à elle."),
    ("fr", "M. {surname} du service client a été parfait."),
    ("fr", "Contact : {email} / {phone}"),
    ("fr", "Je vous ai déjà écrit trois fois ({email}), toujours pas de réponse."),
    ("fr", "Cordialement, {name}"),
    ("fr", "Le livreur a appelé le {phone} alors que j'avais donné un autre numéro."),
    ("fr", "Virement depuis {iban} effectué le 3 mars, toujours rien."),
    ("fr", "Paiement refusé avec la carte {card}, pourtant approvisionnée."),
    ("fr", "Monsieur {surname} m'a promis un rappel qui n'est jamais venu."),
    ("en", "Hi, my name is {name} and my parcel never arrived."),
    ("en", "Please call me back on {phone}."),
    ("en", "You can reach me at {email} any time."),
    ("en", "My card {card} was charged twice for the same order."),
    ("en", "Refund to {iban} please, not to the card."),
    ("en", "Mrs {surname} at the desk was very helpful."),
    ("en", "The reset link {url} has expired already."),
    ("en", "Mr {surname} promised a callback that never came."),
    ("en", "Contact details: {email}, {phone}"),
    ("en", "Spoke with Dr {surname} who was lovely."),
]

NEGATIVE = [
    ("fr", "Commande n° {order} livrée avec 5 jours de retard."),
    ("fr", "Colis {colissimo} bloqué depuis le {date}."),
    ("fr", "J'ai payé {price} pour un article défectueux."),
    ("fr", "Référence produit {sku}, taille 42, reçu en 40."),
    ("fr", "Livraison prévue le {date} entre 8h et 13h, personne n'est venu."),
    ("fr", "Facture FA-{order} du {date} : montant {price}."),
    ("fr", "Le code promo NOEL{year} ne marche pas."),
    ("fr", "Magasin de Lyon, 69003, très bon accueil."),
    ("fr", "Madame, Monsieur, je vous écris au sujet de ma commande {order}."),
    ("fr", "Monsieur le directeur, votre service est lamentable."),
    ("fr", "Voir https://www.exemple.fr/aide/retours pour la procédure, incompréhensible."),
    ("fr", "Code EAN {ean} introuvable en rayon."),
    ("fr", "Contrat {contract} résilié le {date} mais toujours prélevé de {price}."),
    ("fr", "Ticket de caisse n° {order} du {date} à {time}."),
    ("en", "Order #{order} arrived a week late."),
    ("en", "Tracking number {ups} shows no movement since {date}."),
    ("en", "Paid {price_en} and the item broke after two days."),
    ("en", "Product code {sku} is listed twice on the website."),
    ("en", "See https://www.example.com/help/returns for the returns policy."),
    ("en", "Delivery slot {date} {time} missed again."),
    ("en", "Invoice INV-{order} from {date}, total {price_en}."),
    ("en", "Store 0042 in Manchester was spotless."),
    ("en", "Dear Sir or Madam, I am writing about order {order}."),
    ("en", "Flight AF{flight} on {date} was cancelled without notice."),
]


def order():
    return str(R.randrange(10**8, 10**11))


def fill_negative(template):
    values = {
        "order": order(),
        "colissimo": f"6A{R.randrange(10**10, 10**11)}",
        "date": R.choice([f"{R.randrange(1, 28):02d}/{R.randrange(1, 12):02d}/2026", f"2026-{R.randrange(1, 12):02d}-{R.randrange(1, 28):02d}", f"{R.randrange(1, 28)} novembre"]),
        "price": R.choice([f"{R.randrange(5, 999)},{R.randrange(10, 99)} €", f"{R.randrange(1, 9)} {R.randrange(100, 999)},00 €"]),
        "price_en": f"£{R.randrange(5, 999)}.{R.randrange(10, 99)}",
        "sku": R.choice([f"AB-{R.randrange(1000, 9999)}-XY", f"SKU{R.randrange(100000, 999999)}", f"{R.randrange(100, 999)}.{R.randrange(100, 999)}.{R.randrange(10, 99)}"]),
        "year": "2026",
        "ean": "".join(R.choice(string.digits) for _ in range(13)),
        "contract": f"{R.randrange(10**9, 10**10)}",
        "time": f"{R.randrange(8, 20)}:{R.randrange(10, 59)}",
        "ups": "1Z" + "".join(R.choice(string.ascii_uppercase + string.digits) for _ in range(16)),
        "flight": str(R.randrange(100, 9999)),
    }
    return template.format(**values)


def fill_positive(template):
    pii = []
    values = {}
    for slot, make, kind in [
        ("{name}", person, "person"), ("{surname}", lambda: R.choice(LAST), "person"), ("{email}", email, "email"),
        ("{iban}", an_iban, "iban"), ("{card}", card, "card"), ("{nir}", nir, "nir"), ("{url}", personal_url, "url"),
    ]:
        if slot in template:
            values[slot[1:-1]] = make()
            pii.append((template.index(slot), kind, values[slot[1:-1]]))
    if "{phone}" in template:
        values["phone"] = allocated(R.choice([french_written_forms, french_written_forms, french_landline, foreign_phone]))
        pii.append((template.index("{phone}"), "phone", values["phone"]))
    pii.sort()
    return template.format(**values), [{"type": kind, "value": value} for _, kind, value in pii]


def main():
    cases = []
    for _ in range(6):
        for language, template in POSITIVE:
            text, pii = fill_positive(template)
            cases.append({"language": language, "text": text, "pii": pii})
    for _ in range(4):
        for language, template in NEGATIVE:
            cases.append({"language": language, "text": fill_negative(template), "pii": []})
    # Hard cases written as they are: obfuscated addresses a customer types, invalid
    # checksums (not personal data of these kinds), and numbers that only look like them.
    cases += [
        {"language": "fr", "text": "écrivez-moi à jean point dupont arobase gmail point com", "pii": [{"type": "email", "value": "jean point dupont arobase gmail point com"}]},
        {"language": "fr", "text": "Mon IBAN FR76 3000 6000 0112 3456 7890 188 (je crois) pour le remboursement", "pii": []},
        {"language": "fr", "text": "Carte 4970 1012 3456 7899 refusée", "pii": []},
        {"language": "fr", "text": "SIRET de la boutique : 36252187900034, facture incorrecte", "pii": []},
        {"language": "en", "text": "Call 0800 123 4567 the free number, no answer", "pii": [{"type": "phone", "value": "0800 123 4567"}]},
        {"language": "fr", "text": "Appelez le 3949, c'est le seul numéro qui répond", "pii": []},
        {"language": "en", "text": "I'm Sarah, order 55512345 never came", "pii": [{"type": "person", "value": "Sarah"}]},
        {"language": "fr", "text": "Signé : Paul, client depuis 10 ans", "pii": [{"type": "person", "value": "Paul"}]},
    ]
    out = Path(__file__).with_name("pii_cases.jsonl")
    with out.open("w", encoding="utf-8") as f:
        for case in cases:
            f.write(json.dumps(case, ensure_ascii=False) + "\n")
    print(f"{len(cases)} cases, {sum(len(c['pii']) for c in cases)} personal values, to {out}")


if __name__ == "__main__":
    main()
