# ruff: noqa: E501 - the mail templates keep header and HTML lines as the clients write them
"""Realistic support mail in bulk, for `scripts/bench e2e`: deterministic for a seed.

    from benchmail import Planner, write_orders
    planner = Planner(seed=11)
    backlog = planner.plan(10_000)                 # the mix below
    live = planner.plan(200, mix="requests")       # only mail that gets one reply each
    raw = backlog.render(0)                        # bytes with CRLF line ends, as APPENDed
    write_orders(path, [backlog, live], total=1_000_000)   # streamed, never held in memory

The mix (`mix="all"`), as a support mailbox sees it after a launch:

- about 80% license requests from customers with a paid order: one serial (most), two or three,
  a .txt attachment with several, asking again for a serial that already has a license
  ("reinstalled Windows"), a move to a new PC, a request forwarded by the company's IT;
- about 10% that a person must see, or that are asked again: questions, strangers without an
  order, a mistyped serial (the first time mailbot asks again, the second time a person), more
  serials than seats, "thanks, it works" quoting our reply, a From that fails DMARC;
- about 10% machine mail: RFC 3834 out-of-office replies (Exchange, Gmail, a Sieve vacation)
  and delivery status notifications (multipart/report, Postfix and Exchange).

Shapes as real clients write them: Outlook / Microsoft 365 (multipart/alternative with Word
HTML, a dozen X-MS-Exchange headers, Thread-Index), Gmail (ARC, X-Gm headers, gmail_quote),
Apple Mail, Thunderbird (format=flowed), German and French webmail in quoted-printable (UTF-8
and ISO-8859-1), and HTML-only mail. Every mail carries the Received chain, DKIM-Signature and
Authentication-Results of a real delivery (our MX is `mx1.amphis.example`; the bench sets it as
`[security] authserv_id`), a unique Message-ID, and In-Reply-To/References when it answers one
of our mails. Bodies are 1-20 kB (quoted history, signatures, disclaimers); about one mail in
a hundred carries a 100-300 kB screenshot or PDF.

Each mail records the outcome mailbot should reach (`Planned.expected`); the bench prints the
expected beside the actual counts. The orders cover every customer with enough seats, except
the customers meant to run out.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import quopri
import random
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from email.header import Header
from email.utils import format_datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from mailbot.core.serials import ALPHABET, check_symbol, format_serial  # noqa: E402

SUPPORT = "support@amphis.example"
OUR_MX = "mx1.amphis.example"
PRODUCT = "Amphis Customer"
# The backlog's mail is dated from here on, a few seconds apart.
BACKLOG_START = datetime(2026, 11, 30, 6, 0, 0, tzinfo=UTC)
CSV_HEADER = "order_id,email,name,seats,status,created,currency\n"

# kind -> share of the mix. The expected outcome is decided while planning (state matters:
# a resend needs an earlier license, the second mistyped serial an earlier one).
MIX_ALL: tuple[tuple[str, float], ...] = (
    # ~80% requests
    ("request", 0.545),
    ("request_multi", 0.09),
    ("resend", 0.08),
    ("attachment", 0.02),
    ("transfer", 0.02),
    ("forward", 0.02),
    ("big_attachment", 0.012),
    # ~10% escalations and questions asked back
    ("question", 0.028),
    ("stranger", 0.025),
    ("mistyped", 0.02),
    ("seats_short", 0.01),
    ("thanks", 0.01),
    ("spoofed", 0.005),
    # ~10% machine mail
    ("ooo", 0.065),
    ("dsn", 0.035),
)
MIX_REQUESTS: tuple[tuple[str, float], ...] = (
    ("request", 0.85),
    ("request_multi", 0.10),
    ("attachment", 0.05),
)
MIXES = {"all": MIX_ALL, "requests": MIX_REQUESTS}

# -- names and words ----------------------------------------------------------------------------

FIRST = {
    "en": "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Susan "
    "Richard Jessica Joseph Sarah Thomas Karen Chris Nancy Daniel Lisa Matthew Betty Anthony "
    "Sandra Mark Ashley Steven Emily Paul Donna Andrew Michelle Kevin Laura Brian Rachel".split(),
    "de": "Anna Klaus Jürgen Ursula Stefan Sabine Thomas Monika Andreas Petra Michael Birgit "
    "Frank Claudia Uwe Katrin Jörg Susanne Markus Heike Matthias Anja Ralf Nicole Sven Julia "
    "Björn Kerstin Tobias Silke Dirk Bärbel Lukas Lena Jan Marie".split(),
    "fr": "Jean Marie Pierre Nathalie Michel Isabelle Philippe Sylvie Alain Catherine Nicolas "
    "Sophie François Céline Laurent Hélène Julien Aurélie Stéphane Émilie".split(),
}
LAST = {
    "en": "Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas Moore "
    "Jackson Martin Lee Thompson White Harris Clark Lewis Robinson Walker Young Allen King "
    "Wright Scott Green Baker Adams Nelson Hill Campbell Mitchell Carter Roberts".split(),
    "de": "Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer "
    "Koch Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger Hofmann "
    "Hartmann Lange Schmitt Werner Krause Meier Lehmann Köhler Weiß Jäger Groß".split(),
    "fr": "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent "
    "Lefèvre Michel Garcia David Bertrand Roux Vincent Fournier".split(),
}
COMPANY_A = {
    "en": "Northwind Contoso Fabrikam Tailspin Wingtip Litware Adatum Proseware Lucerne Alpine "
    "Blue Yonder Coho Fourth Coffee Graphic Humongous Margie Trey Wide World Woodgrove Bellows "
    "Summit Harbor Cedar Maple Granite Silverline Redwood Bright Oak Riverside".split(),
    "de": "Müller Schneider Becker Hoffmann Bauer Richter Klein Wolf Neumann Braun Krüger "
    "Hartmann Lange Werner Krause Lehmann Köhler Rheinland Allgäu Hanse Elbe Nordlicht".split(),
    "fr": "Dubois Lefèvre Moreau Laurent Girard Bonnet Lambert Fontaine Rousseau Vincent".split(),
}
COMPANY_B = {
    "en": "Traders|Consulting|Logistics|Systems|Partners LLP|Engineering|Design Studio|Medical "
    "Group|Legal|Architects|Accounting|Dental Care|Insurance Brokers|Realty|Foods Inc".split("|"),
    "de": "Maschinenbau GmbH|Steuerberatung|Elektrotechnik GmbH & Co. KG|Immobilien GmbH|"
    "Architekten PartG|Logistik AG|Zahnarztpraxis|Versicherungsmakler|Bau GmbH|Kanzlei".split("|"),
    "fr": "Conseil|Architectes|Expertise Comptable|Immobilier SARL|Transports SA".split("|"),
}
FREEMAIL = {
    "en": ("gmail.com", "outlook.com", "yahoo.com", "icloud.com"),
    "de": ("gmx.de", "web.de", "t-online.de", "gmail.com"),
    "fr": ("orange.fr", "free.fr", "gmail.com"),
}
TZ = {
    "en": (UTC, timezone(timedelta(hours=-5)), timezone(timedelta(hours=-8))),
    "de": (timezone(timedelta(hours=1)),),
    "fr": (timezone(timedelta(hours=1)),),
}

FILLER = {
    "en": [
        "We have been using Amphis Customer in our office for about two years now.",
        "The installation went fine on all machines, the setup took only a few minutes.",
        "Our accounting team relies on the reports every Monday morning.",
        "I checked the About window twice to make sure the number is right.",
        "The colleague who usually handles this is on holiday until the end of the month.",
        "We are quite happy with the product so far, the last update fixed the printing issue.",
        "Please use this address for anything related to the licenses in the future.",
        "The invoice was paid by our purchasing department last week.",
        "Thanks again for the quick help last time, that saved us a lot of trouble.",
        "Our office is closed between Christmas and New Year, so please reply before that.",
    ],
    "de": [
        "Wir nutzen Amphis Customer seit etwa zwei Jahren in unserer Kanzlei.",
        "Die Installation hat auf allen Arbeitsplätzen problemlos funktioniert.",
        "Unsere Buchhaltung arbeitet jeden Montag mit den Auswertungen.",
        "Ich habe die Nummer zweimal im Info-Fenster geprüft, sie sollte stimmen.",
        "Der Kollege, der das sonst macht, ist bis Monatsende im Urlaub.",
        "Mit dem Programm sind wir sehr zufrieden, das letzte Update hat den Druckfehler behoben.",
        "Bitte verwenden Sie künftig diese Adresse für alles rund um die Lizenzen.",
        "Die Rechnung wurde letzte Woche von unserem Einkauf bezahlt.",
        "Vielen Dank nochmals für die schnelle Hilfe beim letzten Mal.",
        "Zwischen den Jahren ist unser Büro geschlossen, eine Antwort vorher wäre schön.",
    ],
    "fr": [
        "Nous utilisons Amphis Customer au bureau depuis environ deux ans.",
        "L'installation s'est très bien passée sur tous les postes.",
        "Notre service comptable consulte les rapports chaque lundi matin.",
        "J'ai vérifié le numéro deux fois dans la fenêtre À propos.",
        "La facture a été réglée par notre service achats la semaine dernière.",
        "Merci encore pour votre aide rapide la dernière fois.",
    ],
}

GREETING = {
    "en": [
        "Hello,",
        "Hi,",
        "Dear Amphis team,",
        "Good morning,",
        "Hello support team,",
        "Hi there,",
    ],
    "de": ["Guten Tag,", "Hallo,", "Sehr geehrte Damen und Herren,", "Hallo zusammen,", "Moin,"],
    "fr": ["Bonjour,", "Madame, Monsieur,", "Bonjour à toute l'équipe,"],
}
CLOSING = {
    "en": ["Thanks,", "Best regards,", "Kind regards,", "Many thanks,", "Cheers,", "Regards,"],
    "de": ["Viele Grüße", "Mit freundlichen Grüßen", "Beste Grüße", "Danke und Gruß"],
    "fr": ["Cordialement,", "Bien cordialement,", "Merci d'avance,"],
}
# {s} one serial, {order} the customer's order number. No transfer words with two serials.
REQUEST = {
    "en": [
        "please send me the license string for the following serial number:\n\n{s}",
        "I just installed {product} on our front-desk PC. The serial it shows is {s}. "
        "Could you send me the license?",
        "here is the serial number from the About window: {s}\n"
        "We bought the seats last month (order {order}).",
        "Serial: {s}",
        "we need a license for {s}, installed today for a colleague in accounting.",
        "my new laptop shows this serial: {s}\nPlease send me the license string.",
        "I'd like to activate {product}. Serial number {s}\nOrder: {order}",
    ],
    "de": [
        "anbei die Seriennummer für unseren Büro-PC:\n\n{s}",
        "bitte senden Sie mir den Lizenzschlüssel für die Seriennummer {s}.",
        "wir haben {product} auf einem weiteren Arbeitsplatz installiert. "
        "Die Seriennummer lautet {s}.",
        "Seriennummer: {s}\nBestellung: {order}",
        "für den Rechner an unserer Anmeldung bräuchten wir eine Lizenz, Seriennummer {s}.",
    ],
    "fr": [
        "veuillez trouver ci-dessous le numéro de série de notre poste :\n\n{s}",
        "pourriez-vous m'envoyer la licence pour le numéro de série {s} ?",
        "numéro de série : {s}\ncommande : {order}",
    ],
}
REQUEST_MULTI = {
    "en": [
        "we installed {product} on {k} more PCs today. The serials are:\n\n{list}",
        "please license these for our team:\n{list}\n\nThe order number is {order}.",
        "Here are the serial numbers of our accounting workstations:\n{list}",
    ],
    "de": [
        "für folgende Arbeitsplätze benötigen wir Lizenzen:\n{list}",
        "wir haben {product} heute auf {k} Rechnern installiert, hier die Seriennummern:\n\n{list}",
    ],
    "fr": ["voici les numéros de série de nos {k} postes :\n{list}"],
}
RESEND = {
    "en": [
        "I reinstalled Windows and the license is gone. Could you send it again for {s}?",
        "we lost the license string for {s}, can you resend it please?",
        "our IT had to reset the PC; the serial is still {s}. Please send the license again.",
    ],
    "de": [
        "nach einer Neuinstallation ist die Lizenz weg. Können Sie mir den Schlüssel für {s} "
        "noch einmal schicken?",
        "ich finde die Mail mit dem Lizenzschlüssel nicht mehr. Seriennummer: {s}",
    ],
    "fr": ["j'ai perdu la clé de licence pour {s}, pourriez-vous me la renvoyer ?"],
}
TRANSFER = {
    "en": [
        "I got a new PC and need to move my license.\n\nOld PC: {old}\nNew PC: {new}",
        "Our old laptop died and we replaced it. The old serial was {old}, the new one is {new}.",
    ],
    "de": [
        "ich habe einen neuen Rechner bekommen.\nAlte Seriennummer: {old}\n"
        "Neue Seriennummer: {new}\nBitte übertragen Sie die Lizenz.",
    ],
    "fr": [
        "j'ai un nouvel ordinateur.\nAncien numéro : {old}\nNouveau numéro : {new}",
    ],
}
QUESTION = {
    "en": [
        "Do we need a license for our file server where nobody runs the app?",
        "Can I install {product} on a Mac as well, or is it Windows only?",
        "We would like to buy five more seats. Can you send us a quote first?",
        "Is there a discount for schools or non-profits?",
        "How do I move the data folder to another drive without losing anything?",
        "We were charged twice for order {order}. Can you refund one of the payments?",
    ],
    "de": [
        "können Sie uns eine Rechnung mit unserer USt-IdNr. ausstellen? Die alte ist verloren.",
        "funktioniert {product} auch unter Windows 11 auf ARM?",
        "wir möchten eine Lizenz kündigen und das Geld zurück. Wie geht das?",
    ],
    "fr": ["est-ce que {product} fonctionne aussi sous macOS ?"],
}
STRANGER = {
    "en": [
        "I downloaded the trial last week and would like to buy. My serial: {s}",
        "our consultant installed {product} for us. Serial {s}. Please send the license.",
    ],
    "de": ["ich habe die Testversion installiert. Seriennummer {s}, was kostet die Lizenz?"],
    "fr": ["j'ai installé la version d'essai, numéro de série {s}."],
}
THANKS = {
    "en": ["Thanks a lot, it works now!", "Got it, all good. Thank you for the quick reply."],
    "de": ["Vielen Dank, funktioniert!", "Hat geklappt, danke für die schnelle Antwort."],
    "fr": ["Merci beaucoup, ça marche !"],
}
DISCLAIMER = {
    "en": "CONFIDENTIALITY NOTICE: This e-mail and any attachments are confidential and may be "
    "legally privileged. If you are not the intended recipient, please notify the sender "
    "immediately and delete this message from your system. Any unauthorised use, disclosure, "
    "copying or distribution of this e-mail is strictly prohibited. E-mail transmission cannot "
    "be guaranteed to be secure or error-free, as information could be intercepted, corrupted, "
    "lost, destroyed, arrive late or incomplete, or contain viruses. The sender therefore does "
    "not accept liability for any errors or omissions in the contents of this message which "
    "arise as a result of e-mail transmission. Please consider the environment before printing.",
    "de": "Diese E-Mail enthält vertrauliche und/oder rechtlich geschützte Informationen. Wenn "
    "Sie nicht der richtige Adressat sind oder diese E-Mail irrtümlich erhalten haben, "
    "informieren Sie bitte sofort den Absender und vernichten Sie diese Mail. Das unerlaubte "
    "Kopieren sowie die unbefugte Weitergabe dieser Mail ist nicht gestattet.\n"
    "Sitz der Gesellschaft: Köln, Registergericht: Amtsgericht Köln, HRB 98765, "
    "Geschäftsführer: Dr. Jürgen Weiß, Sabine Köhler. USt-IdNr.: DE 123 456 789.\n"
    "Pflichtangaben nach § 35a GmbHG und § 80 AktG finden Sie auf unserer Website.",
    "fr": "Ce message et toutes les pièces jointes sont confidentiels et établis à l'intention "
    "exclusive de ses destinataires. Toute utilisation ou diffusion non autorisée est "
    "interdite. Si vous avez reçu ce message par erreur, merci de le détruire et d'avertir "
    "immédiatement l'expéditeur.",
}
OOO = {
    "en": "Thank you for your message. I am out of the office until {day} with limited access to "
    "e-mail. For urgent matters please contact our office at office@{domain}.\n\nBest regards\n"
    "{name}",
    "de": "Vielen Dank für Ihre Nachricht. Ich bin bis einschließlich {day} nicht im Büro und "
    "habe keinen Zugriff auf meine E-Mails. In dringenden Fällen wenden Sie sich bitte an "
    "zentrale@{domain}.\n\nMit freundlichen Grüßen\n{name}",
    "fr": "Je suis absent(e) jusqu'au {day}. Pour toute urgence, merci de contacter "
    "accueil@{domain}.\n\n{name}",
}
OOO_SUBJECT = {
    "en": ["Automatic reply: {subject}", "Out of Office: {subject}", "Out of office"],
    "de": ["Automatische Antwort: {subject}", "Abwesenheitsnotiz: {subject}", "Urlaub bis {day}"],
    "fr": ["Réponse automatique : {subject}", "Absent du bureau"],
}
OUR_SUBJECT = f"Your {PRODUCT} license"

_SLUG = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "é": "e", "è": "e", "ç": "c"})


def slug(text: str) -> str:
    out = "".join(c if c.isascii() and c.isalnum() else "-" for c in text.lower().translate(_SLUG))
    return "-".join(part for part in out.split("-") if part)


# -- the plan -----------------------------------------------------------------------------------


@dataclass
class Customer:
    """A buyer with an order (or, with `order_ids` empty, a stranger)."""

    email: str
    first: str
    last: str
    company: str
    domain: str
    lang: str
    client: str  # outlook, gmail, apple, thunderbird, webmail, html_only
    tz: timezone
    order_ids: list[str] = field(default_factory=list)
    seats: list[int] = field(default_factory=list)
    created: list[str] = field(default_factory=list)
    currency: str = "eur"
    # while planning
    budget: int = 1  # mails this customer may still write (replies per hour stay below 10)
    licensed: list[str] = field(default_factory=list)  # serials with an active license
    new_serials: int = 0  # seats needed
    mistyped: int = 0
    fixed_seats: int = 0  # >0: exactly this many (customers meant to run out)
    stranger: bool = False  # no order at all

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"


@dataclass(frozen=True)
class Planned:
    index: int  # within its Mailset
    kind: str
    expected: str  # the outcome mailbot should record
    customer: int  # index into Mailset.customers
    serials: tuple[str, ...] = ()  # as typed into the mail
    old_serial: str = ""  # transfers, resends and thanks: the serial our earlier reply named


@dataclass
class Mailset:
    """A planned mailbox: what each mail is; `render(i)` writes its bytes (deterministic)."""

    name: str
    seed: int
    customers: list[Customer]
    mails: list[Planned]

    def __len__(self) -> int:
        return len(self.mails)

    def render(self, i: int) -> bytes:
        return _Renderer(self, self.mails[i]).mail()

    def __iter__(self) -> Iterator[bytes]:
        return (self.render(i) for i in range(len(self.mails)))

    def message_id(self, i: int) -> str:
        """The Message-ID of mail i (without brackets), as render() writes it."""
        return _Renderer(self, self.mails[i]).message_id

    def expected(self) -> Counter[str]:
        return Counter(m.expected for m in self.mails)

    def kinds(self) -> Counter[str]:
        return Counter(m.kind for m in self.mails)


def make_serial(rng: random.Random) -> str:
    payload = "".join(rng.choice(ALPHABET) for _ in range(15))
    return format_serial(payload + check_symbol(payload))


def mistype(rng: random.Random, serial: str) -> str:
    """One payload symbol changed: the check symbol catches it (MISTYPED, never another serial)."""
    groups = serial.split("-")
    symbols = list("".join(groups[1:]))
    at = rng.randrange(15)
    symbols[at] = rng.choice([c for c in ALPHABET if c != symbols[at]])
    return format_serial("".join(symbols), groups[0])


class Planner:
    """Plans one or more Mailsets that share a customer namespace (no address twice)."""

    def __init__(self, seed: int = 11) -> None:
        self.seed = seed
        self._emails: set[str] = set()
        self._orders = 0
        self._sets = 0

    # -- people -------------------------------------------------------------------------------

    def _person(self, rng: random.Random, stranger: bool = False) -> Customer:
        lang = rng.choices(("en", "de", "fr"), (0.65, 0.28, 0.07))[0]
        first, last = rng.choice(FIRST[lang]), rng.choice(LAST[lang])
        freemail = rng.random() < (0.35 if stranger else 0.2)
        if freemail:
            domain, company = rng.choice(FREEMAIL[lang]), ""
        else:
            company = f"{rng.choice(COMPANY_A[lang])} {rng.choice(COMPANY_B[lang])}"
            domain = f"{slug(company.split(' GmbH')[0].split(' &')[0])}.example"
        style = rng.random()
        a, b = slug(first), slug(last)
        if freemail:
            local = rng.choice([f"{a}.{b}", f"{a}{b}{rng.randrange(10, 99)}", f"{a[0]}{b}"])
        elif style < 0.12:
            local = rng.choice(["it", "office", "admin", "info", "buchhaltung", "support"])
        else:
            local = rng.choice([f"{a}.{b}", f"{a[0]}.{b}", a, f"{a}{b[0]}"])
        email = f"{local}@{domain}"
        n = 2
        while email in self._emails:
            email = f"{local}{n}@{domain}"
            n += 1
        self._emails.add(email)
        if domain == "gmail.com" or (not freemail and rng.random() < 0.15):
            client = "gmail"
        elif domain in ("outlook.com",):
            client = "outlook"
        elif domain == "icloud.com":
            client = "apple"
        elif freemail:
            client = rng.choice(["webmail", "webmail", "thunderbird", "html_only"])
        else:
            client = rng.choices(
                ("outlook", "apple", "thunderbird", "webmail", "html_only"),
                (0.55, 0.12, 0.18, 0.08, 0.07),
            )[0]
        return Customer(
            email=email,
            first=first,
            last=last,
            company=company,
            domain=domain,
            lang=lang,
            client=client,
            tz=rng.choice(TZ[lang]),
            currency={"en": "usd", "de": "eur", "fr": "eur"}[lang] if rng.random() < 0.8 else "gbp",
        )

    def plan(self, n: int, mix: str = "all") -> Mailset:
        """n mails in arrival order, each with the outcome mailbot should reach."""
        self._sets += 1
        rng = random.Random(self.seed * 1_000_003 + self._sets)
        table = MIXES[mix]
        kinds = [k for k, _ in table]
        weights = [w for _, w in table]
        customers: list[Customer] = []
        writing: list[int] = []  # customers with budget left
        licensed: list[int] = []  # customers holding at least one license
        mistyped: list[int] = []  # customers who mistyped once
        mails: list[Planned] = []

        def customer(new_share: float = 0.5) -> int:
            if writing and rng.random() > new_share:
                return rng.choice(writing)
            c = self._person(rng)
            c.budget = min(6, 1 + int(rng.expovariate(0.8)))
            customers.append(c)
            writing.append(len(customers) - 1)
            return len(customers) - 1

        def wrote(ci: int) -> None:
            c = customers[ci]
            c.budget -= 1
            if c.budget <= 0 and ci in writing:
                writing.remove(ci)

        def licensed_customer() -> int | None:
            options = [ci for ci in licensed[-400:] if customers[ci].budget > 0]
            return rng.choice(options) if options else None

        for i in range(n):
            kind = rng.choices(kinds, weights)[0]
            if kind in ("resend", "transfer", "thanks"):
                ci = licensed_customer()
                if ci is None or (kind == "transfer" and customers[ci].fixed_seats):
                    kind, ci = "request", customer()
            elif kind == "mistyped" and mistyped and rng.random() < 0.6:
                ci = mistyped.pop(rng.randrange(len(mistyped)))  # the second try, mistyped again
            elif kind in ("stranger", "seats_short", "dsn", "ooo", "spoofed"):
                ci = -1
            else:
                ci = customer()
            if kind == "stranger":
                c = self._person(rng, stranger=True)
                c.budget, c.stranger = 0, True
                customers.append(c)
                mails.append(Planned(i, kind, "escalated", len(customers) - 1, (make_serial(rng),)))
                continue
            if kind == "seats_short":
                c = self._person(rng)
                c.fixed_seats, c.budget = 1, 0
                customers.append(c)
                ci = len(customers) - 1
                serials = (make_serial(rng), make_serial(rng))
                mails.append(Planned(i, kind, "escalated", ci, serials))
                continue
            if kind in ("ooo", "dsn", "spoofed"):
                # From (or about) someone who has an order; these use no reply budget.
                ci = rng.randrange(len(customers)) if customers else customer()
                expected = "escalated" if kind == "spoofed" else "ignored"
                serials = (make_serial(rng),) if kind == "spoofed" else ()
                mails.append(Planned(i, kind, expected, ci, serials))
                continue
            c = customers[ci]
            if kind in ("request", "forward", "big_attachment"):
                serials: tuple[str, ...] = (make_serial(rng),)
                expected = "issued"
            elif kind == "request_multi":
                serials = tuple(make_serial(rng) for _ in range(rng.choice((2, 2, 2, 3))))
                expected = "issued"
            elif kind == "attachment":
                serials = tuple(make_serial(rng) for _ in range(rng.randint(3, 8)))
                expected = "issued"
            elif kind == "resend":
                serials, expected = (rng.choice(c.licensed),), "resent"
            elif kind == "thanks":
                serials, expected = (), "escalated"
                mails.append(Planned(i, kind, expected, ci, (), rng.choice(c.licensed)))
                wrote(ci)
                continue
            elif kind == "transfer":
                old = rng.choice(c.licensed)
                new = make_serial(rng)
                c.licensed.remove(old)
                c.licensed.append(new)
                mails.append(Planned(i, kind, "transferred", ci, (old, new), old))
                wrote(ci)
                continue
            elif kind == "mistyped":
                serials = (mistype(rng, make_serial(rng)),)
                expected = "clarify" if c.mistyped == 0 else "escalated"
                if c.mistyped == 0 and ci in writing:
                    # Kept for their second try: no other mail of theirs in between.
                    mistyped.append(ci)
                    writing.remove(ci)
                    c.budget = 2
                c.mistyped += 1
            else:  # question
                serials, expected = (), "escalated"
            if expected == "issued":
                c.licensed.extend(serials)
                c.new_serials += len(serials)
                if ci not in licensed:
                    licensed.append(ci)
            mails.append(Planned(i, kind, expected, ci, serials))
            wrote(ci)
        self._finish_orders(rng, customers)
        return Mailset(f"set{self._sets}", self.seed * 1_000_003 + self._sets, customers, mails)

    def _finish_orders(self, rng: random.Random, customers: list[Customer]) -> None:
        """One order per customer (a second one for some), enough seats for what they ask."""
        for c in customers:
            if c.stranger:
                continue
            need = c.fixed_seats or c.new_serials + rng.choice((0, 0, 1, 1, 2, 3, 5, 10))
            orders = 2 if need >= 3 and rng.random() < 0.15 else 1
            split = [need] if orders == 1 else [need // 2, need - need // 2]
            for seats in split:
                self._orders += 1
                c.order_ids.append(f"ORD-{self._orders:07d}")
                c.seats.append(max(1, seats) if not c.fixed_seats else seats)
                day = BACKLOG_START - timedelta(
                    days=rng.randint(3, 90), minutes=rng.randint(0, 1440)
                )
                c.created.append(day.isoformat(timespec="seconds"))


# -- orders CSV --------------------------------------------------------------------------------


def write_orders(
    path: Path, sets: Iterable[Mailset], total: int = 0, seed: int = 11
) -> tuple[int, int]:
    """The orders CSV: every order of the sets' customers, then orders of other customers up
    to `total` rows, written as it goes. Returns (rows, customers' rows)."""
    rows = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(CSV_HEADER)
        out = csv.writer(handle, lineterminator="\n")
        for mailset in sets:
            for c in mailset.customers:
                if c.order_ids:
                    for row in _customer_rows(c):
                        out.writerow(row)
                        rows += 1
        own = rows
        rng = random.Random(seed * 7 + 3)
        firsts, lasts = FIRST["en"] + FIRST["de"], LAST["en"] + LAST["de"]
        companies = [slug(f"{a} {b}") for a in COMPANY_A["en"] for b in COMPANY_B["en"][:6]]
        statuses = ("paid",) * 94 + ("refunded",) * 3 + ("unpaid",) * 2 + ("disputed",)
        start = datetime(2023, 1, 1, tzinfo=UTC)
        buffer = io.StringIO()
        pad = csv.writer(buffer, lineterminator="\n")
        n = 0
        while rows < total:
            n += 1
            rows += 1
            first, last = rng.choice(firsts), rng.choice(lasts)
            # "-<number>.example" never occurs in a planned customer's domain
            email = f"{slug(first)}.{slug(last)}@{rng.choice(companies)}-{n % 50021}.example"
            created = start + timedelta(seconds=rng.randrange(120_000_000))
            pad.writerow(
                (
                    f"ORD-9{n:08d}",
                    email,
                    f"{first} {last}",
                    rng.choice((1, 1, 1, 2, 3, 5, 10, 25)),
                    rng.choice(statuses),
                    created.isoformat(timespec="seconds"),
                    rng.choice(("eur", "usd", "gbp")),
                )
            )
            if n % 10_000 == 0:
                handle.write(buffer.getvalue())
                buffer.seek(0)
                buffer.truncate()
        handle.write(buffer.getvalue())
    return rows, own


def _customer_rows(c: Customer) -> Iterator[tuple[object, ...]]:
    company = c.company or c.name
    for order_id, seats, created in zip(c.order_ids, c.seats, c.created, strict=True):
        yield (order_id, c.email, company, seats, "paid", created, c.currency)


# -- rendering ----------------------------------------------------------------------------------

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


class _Renderer:
    """One mail's bytes from its plan entry; all randomness from a per-mail seed."""

    def __init__(self, mailset: Mailset, planned: Planned) -> None:
        self.set = mailset
        self.p = planned
        self.c = mailset.customers[planned.customer]
        self.rng = random.Random(mailset.seed * 10_000_019 + planned.index)
        self.lang = self.c.lang
        self.when = BACKLOG_START + timedelta(seconds=planned.index * 3 + self.rng.randrange(3))
        self.local_when = self.when.astimezone(self.c.tz)
        tag = hashlib.sha1(f"{mailset.name}/{planned.index}".encode()).hexdigest()
        self.tag = tag
        self.message_id = self._message_id()

    # -- helpers ------------------------------------------------------------------------------

    def b64(self, n: int) -> str:
        return "".join(self.rng.choice(_B64) for _ in range(n))

    def hexs(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def uuid(self, upper: bool = False) -> str:
        u = self._uuid_of(self.hexs(32))
        return u.upper() if upper else u

    def ip(self) -> str:
        net = self.rng.choice(("192.0.2", "198.51.100", "203.0.113"))
        return f"{net}.{self.rng.randrange(1, 254)}"

    def date(self, when: datetime | None = None) -> str:
        return format_datetime(when or self.local_when)

    def _message_id(self) -> str:
        c, t = self.c, self.tag
        kind = self.p.kind
        if kind == "dsn":
            return f"{t[:12]}.{t[12:20]}@mail.{c.domain}"
        if c.client == "outlook":
            box = self.outlook_box()
            return f"{box}{t[:28].upper()}@{box}.eurprd07.prod.outlook.com"
        if c.client == "gmail":
            token = base64.b64encode(bytes.fromhex(t[:30])).decode().rstrip("=")
            return f"CA+{token}{t[30:36]}@mail.gmail.com"
        if c.client == "apple":
            return f"{self._uuid_of(t).upper()}@{c.domain}"
        return f"{self._uuid_of(t)}@{c.domain}"

    @staticmethod
    def _uuid_of(h: str) -> str:
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"

    def fold(self, name: str, value: str, width: int = 76) -> str:
        """A structured header folded at spaces and ';' as MTAs do."""
        out, line = [], f"{name}: "
        for word in value.split(" "):
            if len(line) + len(word) + 1 > width and line.strip():
                out.append(line.rstrip())
                line = "\t"
            line += word + " "
        out.append(line.rstrip())
        return "\n".join(out)

    def blob(self, name: str, head: str, n: int) -> str:
        """A header ending in a long base64 value (b=...), folded in 72-character pieces."""
        data = self.b64(n)
        lines = [self.fold(name, head) if head else f"{name}:"]
        for at in range(0, len(data), 72):
            lines.append("\t" + data[at : at + 72])
        return "\n".join(lines)

    def display(self, name: str, address: str, outlook: bool = False) -> str:
        if outlook and " " in name and self.rng.random() < 0.5:
            first, last = name.split(" ", 1)
            name = f"{last}, {first}"
        if name.isascii():
            quoted = f'"{name}"' if "," in name else name
            return f"{quoted} <{address}>"
        encoded = Header(name, "utf-8").encode()
        return f"{encoded} <{address}>"

    def subject(self, text: str) -> str:
        return text if text.isascii() else Header(text, "utf-8").encode()

    # -- the transport headers ----------------------------------------------------------------

    def delivery(
        self, sender: str, spf: str = "pass", dmarc: str = "pass", dkim: bool = True
    ) -> list[str]:
        """What our MX and IMAP server put on top: Return-Path, Received, Authentication-Results."""
        domain = sender.rpartition("@")[2] or self.c.domain
        mta = self.sender_mta(domain)
        ip = self.ip()
        qid = self.b64(11).replace("+", "x").replace("/", "y")
        d = self.date(self.when + timedelta(seconds=2))
        results = [f"{OUR_MX};"]
        if dkim:
            results.append(
                f"dkim=pass (2048-bit key; unprotected) header.d={domain} header.i=@{domain} "
                f"header.a=rsa-sha256 header.s=selector{self.rng.randrange(1, 3)} "
                f"header.b={self.b64(8)};"
            )
        else:
            results.append("dkim=none;")
        results.append(
            f"dmarc={dmarc} (p={'reject' if dmarc == 'fail' else 'none'} dis=none) "
            f"header.from={domain};"
        )
        if sender:
            results.append(
                f"spf={spf} ({OUR_MX}: domain of {sender} designates {ip} as permitted sender) "
                f"smtp.mailfrom={sender}"
            )
        else:  # a bounce: null envelope sender, SPF checks the HELO name
            results.append(f"spf=pass ({OUR_MX}: {mta} designates {ip}) smtp.helo={mta}")
        return [
            f"Return-Path: <{sender}>" if sender else "Return-Path: <>",
            f"Delivered-To: {SUPPORT}",
            self.fold(
                "Received",
                f"from {OUR_MX} ([10.20.0.11]) by imap1.amphis.example with LMTP id "
                f"{self.b64(22)} (envelope-from <{sender}>) for <{SUPPORT}>; {d}",
            ),
            self.fold(
                "Received",
                f"from {mta} ({mta} [{ip}]) (using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 "
                f"(256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) "
                f"server-digest SHA256) (No client certificate requested) by {OUR_MX} (Postfix) "
                f"with ESMTPS id {qid} for <{SUPPORT}>; {d}",
            ),
            self.fold("Authentication-Results", " ".join(results)),
            self.fold(
                "X-Spam-Status",
                f"No, score=-{self.rng.randrange(0, 3)}.{self.rng.randrange(10)} required=5.0 "
                "tests=DKIM_SIGNED,DKIM_VALID,DKIM_VALID_AU,DKIM_VALID_EF,HTML_MESSAGE,"
                "RCVD_IN_DNSWL_NONE,SPF_HELO_NONE,SPF_PASS autolearn=ham autolearn_force=no "
                "version=3.4.6",
            ),
            f"X-Spam-Checker-Version: SpamAssassin 3.4.6 (2021-04-09) on {OUR_MX}",
        ]

    def sender_mta(self, domain: str) -> str:
        """The host that handed the mail to our MX (the same one throughout a mail)."""
        if not hasattr(self, "_mta"):
            self._mta = self._pick_mta(domain)
        return self._mta

    def _pick_mta(self, domain: str) -> str:
        client = self.c.client
        if client == "outlook" or domain == "outlook.com":
            return (
                f"EUR0{self.rng.randrange(1, 6)}-{self.rng.choice(('AM', 'DB', 'VI'))}"
                f"{self.rng.randrange(1, 7)}-obe.outbound.protection.outlook.com"
            )
        if client == "gmail":
            return f"mail-{self.rng.choice(('ed1', 'wr1', 'ej1', 'lf1'))}-f{self.rng.randrange(40, 80)}.google.com"
        if domain == "icloud.com":
            return f"st43p00im-zteg1011{self.rng.randrange(10, 99)}.me.com"
        return f"mail.{domain}"

    def client_headers(self, subject: str, content_type: str, reply: bool) -> list[str]:
        c = self.c
        sender = self.display(c.name, c.email, outlook=c.client == "outlook")
        to = f'"{SUPPORT}" <{SUPPORT}>' if c.client == "outlook" else f"Amphis Support <{SUPPORT}>"
        if self.rng.random() < 0.5:
            to = SUPPORT
        common = [f"From: {sender}", f"To: {to}", f"Subject: {self.subject(subject)}"]
        if self.p.kind == "forward" or (c.client == "outlook" and self.rng.random() < 0.1):
            common.append(f"Cc: {self.display(*self.colleague())}")
        common += [f"Date: {self.date()}", f"Message-ID: <{self.message_id}>"]
        if reply:
            ours = f"mailbot.{self.hexs(24)}@amphis.example"
            theirs = f"{self.hexs(16)}@{c.domain}"
            common += [f"In-Reply-To: <{ours}>", f"References: <{theirs}>\n <{ours}>"]
        domain = c.email.rpartition("@")[2]
        dkim_head = (
            f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=selector{self.rng.randrange(1, 3)}; "
            f"t={int(self.when.timestamp())}; h=From:To:Subject:Date:Message-ID:MIME-Version:"
            f"Content-Type; bh={self.b64(43)}=; b="
        )
        if c.client == "outlook":
            fwd = self.p.kind == "forward"
            headers = [
                self.fold(
                    "Received",
                    f"from {self.outlook_box()}.eurprd07.prod.outlook.com (2603:10a6:20b:{self.hexs(3)}::{self.rng.randrange(10, 99)}) "
                    f"by {self.outlook_box()}.eurprd07.prod.outlook.com (2603:10a6:10:{self.hexs(3)}::{self.rng.randrange(10, 99)}) "
                    f"with Microsoft SMTP Server (version=TLS1_2, cipher=TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384) "
                    f"id 15.20.8207.{self.rng.randrange(10, 40)}; {self.date(self.when)}",
                ),
                self.blob(
                    "ARC-Seal",
                    "i=1; a=rsa-sha256; s=arcselector10001; d=microsoft.com; cv=none; b=",
                    344,
                ),
                self.blob(
                    "ARC-Message-Signature",
                    "i=1; a=rsa-sha256; c=relaxed/relaxed; d=microsoft.com; s=arcselector10001; "
                    "h=From:Date:Subject:Message-ID:Content-Type:MIME-Version:X-MS-Exchange-"
                    f"AntiSpam-MessageData-ChunkCount:X-MS-Exchange-AntiSpam-MessageData-0; bh={self.b64(43)}=; b=",
                    344,
                ),
                "ARC-Authentication-Results: i=1; mx.microsoft.com 1; spf=pass\n\tsmtp.mailfrom="
                f"{domain}; dmarc=pass action=none header.from={domain}; dkim=pass\n\theader.d={domain}; arc=none",
                self.blob("DKIM-Signature", dkim_head, 344),
                *common,
                f"Thread-Topic: {self.subject(subject.split(': ', 1)[-1])}",
                f"Thread-Index: {self.b64(30)}==",
                f"Accept-Language: {'de-DE' if self.lang == 'de' else 'en-US'}, en-US",
                f"Content-Language: {'de-DE' if self.lang == 'de' else 'en-US'}",
                "X-MS-Has-Attach: "
                + ("yes" if self.p.kind in ("attachment", "big_attachment") else ""),
                "X-MS-TNEF-Correlator:",
                "msip_labels:",
                f"authentication-results: dkim=none (message not signed)\n\theader.d=none;dmarc=none action=none header.from={domain};",
                "x-ms-publictraffictype: Email",
                f"x-ms-traffictypediagnostic: {self.outlook_box()}:EE_|{self.outlook_box()}:EE_",
                f"x-ms-office365-filtering-correlation-id: {self.uuid()}",
                "x-ms-exchange-senderadcheck: 1",
                "x-ms-exchange-antispam-relay: 0",
                "x-microsoft-antispam:\n\tBCL:0;ARA:13230040|366016|1800799024|376014|38070700018;",
                self.blob("x-microsoft-antispam-message-info", "", 1200 + self.rng.randrange(800)),
                self.fold(
                    "x-forefront-antispam-report",
                    f"CIP:255.255.255.255;CTRY:;LANG:{self.lang};SCL:1;SRV:;IPV:NLI;SFV:NSPM;"
                    f"H:{self.outlook_box()}.eurprd07.prod.outlook.com;PTR:;CAT:NONE;"
                    "SFS:(13230040)(366016)(1800799024)(376014)(38070700018);DIR:OUT;SFP:1101;",
                ),
                "x-ms-exchange-antispam-messagedata-chunkcount: 1",
                self.blob(
                    "x-ms-exchange-antispam-messagedata-0", "", 1600 + self.rng.randrange(900)
                ),
                f"Content-Type: {content_type}",
                "MIME-Version: 1.0",
                f"X-OriginatorOrg: {domain}",
                "X-MS-Exchange-CrossTenant-AuthAs: Internal",
                f"X-MS-Exchange-CrossTenant-AuthSource: {self.outlook_box()}.eurprd07.prod.outlook.com",
                f"X-MS-Exchange-CrossTenant-Network-Message-Id: {self.uuid()}",
                f"X-MS-Exchange-CrossTenant-originalarrivaltime: {self.when:%d %b %Y %H:%M:%S.%f}"[
                    :-3
                ]
                + " (UTC)",
                "X-MS-Exchange-CrossTenant-fromentityheader: Hosted",
                f"X-MS-Exchange-CrossTenant-id: {self.uuid()}",
                "X-MS-Exchange-CrossTenant-mailboxtype: HOSTED",
                f"X-MS-Exchange-CrossTenant-userprincipalname: {self.b64(60)}",
                f"X-MS-Exchange-Transport-CrossTenantHeadersStamped: {self.outlook_box()}",
            ]
            if fwd:
                headers.append("X-MS-Exchange-Organization-RecordReviewCfmType: 0")
            return headers
        if c.client == "gmail":
            return [
                self.fold(
                    "Received",
                    f"by {self.sender_mta(domain)} with SMTP id 4fb4d7f45d1cf-5d3e8f4b1a2so{self.rng.randrange(100000, 999999)}a12.3 "
                    f"for <{SUPPORT}>; {self.date(self.when)}",
                ),
                self.blob(
                    "DKIM-Signature",
                    f"v=1; a=rsa-sha256; c=relaxed/relaxed; d={domain}; s=20230601; "
                    f"t={int(self.when.timestamp())}; x={int(self.when.timestamp()) + 604800}; "
                    f"darn=amphis.example; h=to:subject:message-id:date:from:mime-version:from:"
                    f"to:cc:subject:date:message-id:reply-to; bh={self.b64(43)}=; b=",
                    344,
                ),
                self.blob(
                    "X-Google-DKIM-Signature",
                    f"v=1; a=rsa-sha256; c=relaxed/relaxed; d=1e100.net; s=20230601; "
                    f"t={int(self.when.timestamp())}; h=to:subject:message-id:date:from:"
                    f"mime-version:x-gm-message-state:from:to:cc:subject:date:message-id:reply-to; "
                    f"bh={self.b64(43)}=; b=",
                    344,
                ),
                self.blob("X-Gm-Message-State", "", 108),
                self.blob("X-Google-Smtp-Source", "", 96),
                f"X-Received: by 2002:a05:6402:{self.hexs(4)}:b0:5d0:{self.hexs(4)}:{self.hexs(4)} with SMTP id\n"
                f"\t4fb4d7f45d1cf-5d3e8f4b1a2mr{self.rng.randrange(1000000, 9999999)}a12.{self.rng.randrange(10, 99)}; {self.date(self.when)}",
                "MIME-Version: 1.0",
                *common,
                f"Content-Type: {content_type}",
            ]
        if c.client == "apple":
            return [
                self.blob("DKIM-Signature", dkim_head, 344),
                *common,
                f"Content-Type: {content_type}",
                "Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3826.200.121\\))",
                "X-Mailer: Apple Mail (2.3826.200.121)",
            ]
        if c.client == "thunderbird":
            return [
                self.blob("DKIM-Signature", dkim_head, 344),
                *common,
                "MIME-Version: 1.0",
                "User-Agent: Mozilla Thunderbird",
                f"Content-Language: {'de-DE' if self.lang == 'de' else 'en-US'}",
                f"Content-Type: {content_type}",
            ]
        # webmail and html_only (GMX, web.de, Roundcube, ...)
        return [
            self.blob("DKIM-Signature", dkim_head, 344),
            f"X-UI-Sender-Class: {self.uuid()}",
            *common,
            "MIME-Version: 1.0",
            f"Content-Type: {content_type}",
            f"X-Provags-ID: V03:K1:{self.b64(120)}",
            f"X-UI-Out-Filterresults: notjunk:1;V03:K0:{self.b64(40)}",
        ]

    def outlook_box(self) -> str:
        """An Exchange Online server name, e.g. AM6PR07MB1234."""
        rng = self.rng
        region = rng.choice(("AM", "DB", "VI", "PA"))
        return f"{region}{rng.randrange(1, 9)}PR0{rng.randrange(1, 9)}MB{rng.randrange(1000, 9999)}"

    def colleague(self) -> tuple[str, str]:
        rng = random.Random(self.rng.random())
        first, last = rng.choice(FIRST[self.lang]), rng.choice(LAST[self.lang])
        return f"{first} {last}", f"{slug(first)}.{slug(last)}@{self.c.domain}"

    # -- text ---------------------------------------------------------------------------------

    def serial_as_typed(self, serial: str) -> str:
        roll = self.rng.random()
        if roll < 0.85:
            return serial
        if roll < 0.92:
            return serial.lower()
        if roll < 0.97:
            return serial.replace("-", " ", 4).replace("AMC ", "AMC-", 1)
        return serial.replace("-", "")

    def signature(self, plain: bool = True) -> str:
        c = self.c
        lines = [c.name]
        if c.company:
            title = self.rng.choice(
                {
                    "en": ["Office Manager", "IT Administrator", "Accountant", "Managing Director"],
                    "de": ["Büroleitung", "IT-Administration", "Buchhaltung", "Geschäftsführer"],
                    "fr": ["Assistante de direction", "Responsable informatique", "Comptable"],
                }[self.lang]
            )
            lines += [title, c.company]
            lines.append(
                {
                    "en": f"{self.rng.randrange(10, 999)} Main Street, Springfield",
                    "de": f"Hauptstraße {self.rng.randrange(1, 200)}, 50667 Köln",
                    "fr": f"{self.rng.randrange(1, 90)} rue de la République, 69002 Lyon",
                }[self.lang]
            )
            lines.append(
                f"Tel. +{self.rng.choice(('1 555', '49 221', '33 4'))} {self.rng.randrange(100000, 999999)}-0"
            )
            lines.append(f"www.{c.domain}")
        sig = "\n".join(lines)
        if c.company and self.rng.random() < 0.45:
            sig += "\n\n" + DISCLAIMER[self.lang]
        return ("-- \n" if plain and self.rng.random() < 0.4 else "") + sig

    def fillers(self, k: int) -> str:
        return " ".join(self.rng.choice(FILLER[self.lang]) for _ in range(k))

    def our_reply(self, serial: str) -> str:
        """The text of our earlier license mail, as a customer's client quotes it."""
        lic = "AMC1-" + "-".join(
            "".join(self.rng.choice(ALPHABET) for _ in range(8)) for _ in range(6)
        )
        return (
            f"Hello {self.c.first},\n\nhere is your license for {PRODUCT}:\n\n"
            f"  Serial:  {serial}\n  License: {lic}\n\n"
            f"Open {PRODUCT}, choose Help > Enter license and paste the license string.\n"
            "Each license is bound to the PC whose serial it names.\n\n"
            "Kind regards\nAmphis Support\n"
        )

    def their_earlier(self) -> str:
        return (
            f"{self.rng.choice(GREETING[self.lang])}\n\n{self.fillers(self.rng.randint(2, 6))}\n\n"
            f"{self.rng.choice(CLOSING[self.lang])}\n{self.c.first}\n"
        )

    def quote(self, text: str, when: datetime, who: str, style: str) -> str:
        """Quoted history in the client's style (plain text)."""
        who_addr = f"{who} <{SUPPORT}>" if who == "Amphis Support" else who
        if style == "outlook":
            head = {
                "de": ("Von", "Gesendet", "An", "Betreff"),
                "fr": ("De", "Envoyé", "À", "Objet"),
            }.get(self.lang, ("From", "Sent", "To", "Subject"))
            return (
                "________________________________\n"
                f"{head[0]}: {who_addr}\n{head[1]}: {when:%A, %B %d, %Y %I:%M %p}\n"
                f"{head[2]}: {self.c.name} <{self.c.email}>\n{head[3]}: {OUR_SUBJECT}\n\n{text}"
            )
        intro = {
            "de": f"Am {when:%d.%m.%Y um %H:%M} schrieb {who_addr}:",
            "fr": f"Le {when:%d/%m/%Y à %H:%M}, {who_addr} a écrit :",
        }.get(self.lang, f"On {when:%a, %d %b %Y at %H:%M}, {who_addr} wrote:")
        quoted = "\n".join(("> " + line) if line else ">" for line in text.split("\n"))
        return f"{intro}\n{quoted}"

    def history(self, serial: str) -> tuple[str, str]:
        """(plain quoted history, the same as text for HTML) of an answer to our license mail."""
        earlier = self.when - timedelta(
            days=self.rng.randint(1, 40), minutes=self.rng.randint(0, 600)
        )
        text = self.our_reply(serial)
        # Their own first request below ours, as threads grow.
        if self.rng.random() < 0.6:
            text += "\n" + self.quote(
                self.their_earlier(), earlier - timedelta(hours=2), self.c.name, "plain"
            )
        style = "outlook" if self.c.client == "outlook" else "plain"
        return self.quote(text, earlier, "Amphis Support", style), text

    def body_parts(self) -> tuple[str, str, str, str]:
        """(subject, new text, quoted history or "", history as unquoted text) of this mail."""
        p, lang = self.p, self.lang
        c = self.c
        order = c.order_ids[0] if c.order_ids else "ORD-0000000"
        fmt = {"product": PRODUCT, "order": order}
        typed = [self.serial_as_typed(s) for s in p.serials]
        history, history_text = "", ""
        if p.kind in ("request", "big_attachment", "mistyped", "spoofed", "forward"):
            core = self.rng.choice(REQUEST[lang]).format(s=typed[0] if typed else "", **fmt)
            subject = self.rng.choice(
                {
                    "en": [
                        "License request",
                        "License string",
                        f"{PRODUCT} license",
                        "Serial number",
                        "Activation",
                    ],
                    "de": [
                        "Lizenzanfrage",
                        "Lizenzschlüssel",
                        "Seriennummer",
                        "Freischaltung " + PRODUCT,
                    ],
                    "fr": ["Demande de licence", "Numéro de série"],
                }[lang]
            )
            if p.kind == "forward":
                core = self.forwarded(typed[0])
                subject = (
                    self.rng.choice(("Fwd: ", "FW: ", "WG: " if lang == "de" else "Fwd: "))
                    + "Amphis serial"
                )
            if p.kind == "big_attachment":
                core += (
                    "\n\n"
                    + {
                        "en": "I attached a screenshot of the activation window.",
                        "de": "Im Anhang ein Screenshot vom Aktivierungsfenster.",
                        "fr": "Vous trouverez une capture d'écran en pièce jointe.",
                    }[lang]
                )
        elif p.kind in ("request_multi", "seats_short"):
            listing = "\n".join(self.listed(j, s) for j, s in enumerate(typed))
            core = self.rng.choice(REQUEST_MULTI[lang]).format(list=listing, k=len(typed), **fmt)
            subject = {
                "en": "Licenses for our team",
                "de": "Lizenzen für unser Team",
                "fr": "Licences",
            }[lang]
        elif p.kind == "attachment":
            core = {
                "en": f"the serials of all {len(typed)} PCs are in the attached file.",
                "de": f"die Seriennummern aller {len(typed)} Rechner finden Sie in der angehängten Datei.",
                "fr": f"les numéros de série des {len(typed)} postes sont dans le fichier joint.",
            }[lang]
            subject = {
                "en": "Serial numbers (list attached)",
                "de": "Seriennummern (Liste im Anhang)",
                "fr": "Numéros de série",
            }[lang]
        elif p.kind == "resend":
            core = self.rng.choice(RESEND[lang]).format(s=typed[0], **fmt)
            subject = "Re: " + OUR_SUBJECT
            history, history_text = self.history(p.serials[0])
        elif p.kind == "transfer":
            core = self.rng.choice(TRANSFER[lang]).format(old=typed[0], new=typed[1], **fmt)
            subject = self.rng.choice(
                (
                    "Re: " + OUR_SUBJECT,
                    {"en": "New PC", "de": "Neuer Rechner", "fr": "Nouvel ordinateur"}[lang],
                )
            )
            if subject.startswith("Re:"):
                history, history_text = self.history(p.old_serial)
        elif p.kind == "thanks":
            core = self.rng.choice(THANKS[lang])
            subject = ("AW: " if lang == "de" else "Re: ") + OUR_SUBJECT
            history, history_text = self.history(p.old_serial)
        elif p.kind == "stranger":
            core = self.rng.choice(STRANGER[lang]).format(s=typed[0], **fmt)
            subject = {"en": "License", "de": "Lizenz kaufen", "fr": "Licence"}[lang]
        else:  # question
            core = self.rng.choice(QUESTION[lang]).format(**fmt)
            subject = {
                "en": "Question about licensing",
                "de": "Frage zur Lizenz",
                "fr": "Question",
            }[lang]
        parts = [self.rng.choice(GREETING[lang]), core]
        if self.rng.random() < 0.5:
            parts.append(self.fillers(self.rng.randint(1, 4)))
        parts.append(
            f"{self.rng.choice(CLOSING[lang])}\n{c.first if self.rng.random() < 0.6 else c.name}"
        )
        new = "\n\n".join(parts)
        if self.rng.random() < 0.55:
            new += "\n\n" + self.signature()
        # Threads grow: some mails carry long quoted history (1-20 kB in all).
        if history and self.rng.random() < 0.5:
            history += "\n" + self.quote(
                self.their_earlier() * self.rng.randint(2, 12),
                self.when - timedelta(days=60),
                self.c.name,
                "plain",
            )
        return subject, new, history, history_text

    def listed(self, j: int, serial: str) -> str:
        style = self.rng.choice(("dash", "pc", "name", "bare"))
        if style == "dash":
            return f"- {serial}"
        if style == "pc":
            return f"PC {j + 1}: {serial}"
        if style == "name":
            return f"{self.rng.choice(FIRST[self.lang])}: {serial}"
        return serial

    def forwarded(self, serial: str) -> str:
        name, address = self.colleague()
        when = self.local_when - timedelta(hours=self.rng.randint(1, 30))
        lead = {
            "en": "Please license this one for our colleague.",
            "de": "Bitte eine Lizenz für unseren Kollegen.",
            "fr": "Merci d'envoyer une licence pour notre collègue.",
        }[self.lang]
        inner = {
            "en": f"Hi, my laptop shows this serial: {serial}\nCan you get me a license? {name.split()[0]}",
            "de": f"Hallo, mein Laptop zeigt diese Seriennummer: {serial}\nKannst du mir eine Lizenz besorgen? {name.split()[0]}",
            "fr": f"Bonjour, mon portable affiche ce numéro : {serial}\nPeux-tu demander une licence ? {name.split()[0]}",
        }[self.lang]
        if self.c.client == "outlook":
            block = (
                f"From: {name} <{address}>\nSent: {when:%A, %B %d, %Y %I:%M %p}\n"
                f"To: IT <{self.c.email}>\nSubject: Amphis serial"
            )
            return f"{lead}\n\n________________________________\n{block}\n\n{inner}"
        return (
            f"{lead}\n\n---------- Forwarded message ---------\nFrom: {name} <{address}>\n"
            f"Date: {when:%a, %d %b %Y at %H:%M}\nSubject: Amphis serial\nTo: IT <{self.c.email}>\n\n{inner}"
        )

    # -- MIME ---------------------------------------------------------------------------------

    def boundary(self) -> str:
        client = self.c.client
        if client == "outlook":
            return f"_000_{self.outlook_box()}{self.hexs(20).upper()}_"
        if client == "gmail":
            return f"000000000000{self.hexs(12)}"
        if client == "apple":
            return f"Apple-Mail={self.uuid(upper=True)}"
        return f"------------{self.b64(24).replace('+', '0').replace('/', '1')}"

    def encode_text(
        self, text: str, subtype: str = "plain", qp: bool | None = None, charset: str = "utf-8"
    ) -> tuple[str, str]:
        """(headers, body) of a text part, encoded as the client would."""
        flowed = "; format=flowed" if subtype == "plain" and self.c.client == "thunderbird" else ""
        if (
            self.lang != "en"
            and self.c.client == "webmail"
            and text.encode("latin-1", "ignore").decode("latin-1") == text
        ):
            charset = "iso-8859-1"
        data = text.encode(charset, errors="replace")
        if qp is None:
            if self.c.client == "thunderbird" and subtype == "plain":
                qp = False  # Thunderbird sends 8bit
            else:
                qp = (
                    subtype == "html" or not data.isascii() or self.c.client in ("outlook", "apple")
                )
        if qp:
            body = quopri.encodestring(data).decode("ascii")
            cte = "quoted-printable"
        elif data.isascii():
            body, cte = text, "7bit"
        else:
            body, cte = data.decode(charset), "8bit"
        head = f'Content-Type: text/{subtype}; charset="{charset}"{flowed}\nContent-Transfer-Encoding: {cte}'
        return head, body

    def html(self, new: str, history_text: str) -> str:
        esc = _escape
        client = self.c.client
        paras = new.split("\n")
        if client == "gmail":
            inner = "<br>".join(esc(line) for line in paras)
            out = f'<div dir="ltr">{inner}</div>'
            if history_text:
                q = "<br>".join(esc(line) for line in history_text.split("\n"))
                out += (
                    '<br><div class="gmail_quote gmail_quote_container"><div dir="ltr" class="gmail_attr">'
                    f"On {self.when:%a, %d %b %Y at %H:%M} Amphis Support &lt;{SUPPORT}&gt; wrote:<br></div>"
                    '<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid '
                    f'rgb(204,204,204);padding-left:1ex">{q}</blockquote></div>'
                )
            return out + "\n"
        if client == "apple":
            inner = "".join(f"<div>{esc(line) or '<br>'}</div>" for line in paras)
            quote = ""
            if history_text:
                q = "".join(
                    f"<div>{esc(line) or '<br>'}</div>" for line in history_text.split("\n")
                )
                quote = f'<div><br><blockquote type="cite"><div>On {self.when:%d %b %Y}, at {self.when:%H:%M}, Amphis Support &lt;{SUPPORT}&gt; wrote:</div><br>{q}</blockquote></div>'
            return (
                '<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head>'
                '<body style="overflow-wrap: break-word; -webkit-nbsp-mode: space; line-break: after-white-space;">'
                f"{inner}{quote}</body></html>\n"
            )
        if client in ("outlook", "html_only") or self.rng.random() < 0.5:
            return self.word_html(paras, history_text)
        inner = "".join(f"<p>{esc(line)}</p>" if line else "<p><br></p>" for line in paras)
        return f'<html><head><meta charset="utf-8"></head><body><div style="font-family: Verdana;font-size: 12.0px;">{inner}</div></body></html>\n'

    def word_html(self, paras: list[str], history_text: str) -> str:
        esc = _escape
        table_serial = self.p.serials and self.rng.random() < 0.3
        rows = []
        for line in paras:
            if table_serial and any(s in line for s in self.p.serials):
                cells = "".join(
                    f'<td width="{w}" valign="top" style="width:{w}pt;border:solid windowtext 1.0pt;padding:0cm 5.4pt 0cm 5.4pt">'
                    f'<p class="MsoNormal">{esc(t)}<o:p></o:p></p></td>'
                    for w, t in (
                        (120, "Serial number" if self.lang != "de" else "Seriennummer"),
                        (300, line),
                    )
                )
                rows.append(
                    '<table class="MsoTableGrid" border="1" cellspacing="0" cellpadding="0" '
                    'style="border-collapse:collapse;border:none"><tbody><tr>'
                    + cells
                    + "</tr></tbody></table>"
                )
                continue
            rows.append(
                f'<p class="MsoNormal">{esc(line) if line else "<o:p>&nbsp;</o:p>"}<o:p></o:p></p>'
            )
        quote = ""
        if history_text:
            q = "".join(
                f'<p class="MsoNormal">{esc(line) or "&nbsp;"}<o:p></o:p></p>'
                for line in history_text.split("\n")
            )
            quote = (
                '<div id="mail-editor-reference-message-container"><div>'
                '<div style="border:none;border-top:solid #B5C4DF 1.0pt;padding:3.0pt 0cm 0cm 0cm">'
                f'<p class="MsoNormal" style="margin-bottom:12.0pt"><b><span style="font-size:12.0pt;color:black">From: </span></b>'
                f'<span style="font-size:12.0pt;color:black">Amphis Support &lt;{SUPPORT}&gt;<br><b>Date: </b>'
                f"{self.when:%A, %d %B %Y at %H:%M}<br><b>To: </b>{esc(self.c.name)} &lt;{self.c.email}&gt;<br>"
                f"<b>Subject: </b>{OUR_SUBJECT}<o:p></o:p></span></p></div>{q}</div></div>"
            )
        lang = {"de": "DE", "fr": "FR"}.get(self.lang, "EN-US")
        return (
            '<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office" '
            'xmlns:w="urn:schemas-microsoft-com:office:word" xmlns:m="http://schemas.microsoft.com/office/2004/12/omml" '
            'xmlns="http://www.w3.org/TR/REC-html40">\n<head>\n'
            '<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\n'
            '<meta name="Generator" content="Microsoft Word 15 (filtered medium)">\n'
            + _WORD_STYLE
            + f'</head>\n<body lang="{lang}" link="#467886" vlink="#96607D" style="word-wrap:break-word">\n'
            '<div class="WordSection1">\n'
            + "\n".join(rows)
            + quote
            + "\n</div>\n</body>\n</html>\n"
        )

    def attachment(self) -> str:
        """A MIME part: the serials as a .txt file, or a 100-300 kB screenshot or PDF."""
        if self.p.kind == "attachment":
            lines = "\n".join(f"PC-{j + 1:02d}\t{s}" for j, s in enumerate(self.p.serials)) + "\n"
            name = self.rng.choice(("serials.txt", "Seriennummern.txt", "licenses.txt"))
            data = lines.encode("utf-8")
            ctype = "text/plain; charset=UTF-8"
        else:
            size = self.rng.randint(100_000, 300_000)
            if self.rng.random() < 0.7:
                name, ctype = "screenshot.png", "image/png"
                data = b"\x89PNG\r\n\x1a\n" + self.rng.randbytes(size)
            else:
                name, ctype = "Auftragsbestaetigung.pdf", "application/pdf"
                data = b"%PDF-1.7\n" + self.rng.randbytes(size)
        encoded = base64.encodebytes(data).decode("ascii")
        return (
            f'Content-Type: {ctype}; name="{name}"\nContent-Description: {name}\n'
            f'Content-Disposition: attachment; filename="{name}"; size={len(data)}\n'
            f"Content-Transfer-Encoding: base64\n\n{encoded}"
        )

    def multipart(self, subtype: str, parts: list[str], boundary: str) -> str:
        out = []
        for part in parts:
            out.append(f"--{boundary}\n{part.rstrip(chr(10))}\n")
        out.append(f"--{boundary}--\n")
        return "\n".join(out)

    def customer_mail(self) -> str:
        subject, new, history, history_text = self.body_parts()
        plain = new + ("\n\n" + history if history else "") + "\n"
        client = self.c.client
        reply = bool(history)
        attach = self.p.kind in ("attachment", "big_attachment")
        if client in ("thunderbird",) or (client == "webmail" and self.rng.random() < 0.5):
            head, body = self.encode_text(plain)
            content = head.split("\n", 1)
            top = content[0].split(": ", 1)[1]
            cte = content[1]
            if not attach:
                return self.assemble(subject, top, reply, [cte], body)
            b = self.boundary()
            text_part = f"{head}\n\n{body}"
            return self.assemble(
                subject,
                f'multipart/mixed; boundary="{b}"',
                reply,
                [],
                "This is a multi-part message in MIME format.\n"
                + self.multipart("mixed", [text_part, self.attachment()], b),
            )
        if client == "html_only":
            html = self.html(new, history_text)
            head, body = self.encode_text(html, "html")
            if not attach:
                top, cte = head.split("\n", 1)
                return self.assemble(subject, top.split(": ", 1)[1], reply, [cte], body)
            b = self.boundary()
            return self.assemble(
                subject,
                f'multipart/mixed; boundary="{b}"',
                reply,
                [],
                self.multipart("mixed", [f"{head}\n\n{body}", self.attachment()], b),
            )
        # multipart/alternative: Outlook, Gmail, Apple Mail, most webmail
        ph, pb = self.encode_text(plain)
        hh, hb = self.encode_text(self.html(new, history_text), "html")
        alt_b = self.boundary()
        alternative = self.multipart("alternative", [f"{ph}\n\n{pb}", f"{hh}\n\n{hb}"], alt_b)
        if not attach:
            return self.assemble(
                subject, f'multipart/alternative; boundary="{alt_b}"', reply, [], alternative
            )
        mixed_b = self.boundary()
        return self.assemble(
            subject,
            f'multipart/mixed; boundary="{mixed_b}"',
            reply,
            [],
            self.multipart(
                "mixed",
                [
                    f'Content-Type: multipart/alternative; boundary="{alt_b}"\n\n{alternative}',
                    self.attachment(),
                ],
                mixed_b,
            ),
        )

    def assemble(
        self, subject: str, content_type: str, reply: bool, extra: list[str], body: str
    ) -> str:
        c = self.c
        spoofed = self.p.kind == "spoofed"
        headers = self.delivery(
            c.email,
            spf="softfail" if spoofed else "pass",
            dmarc="fail" if spoofed else "pass",
            dkim=not spoofed,
        )
        headers += self.client_headers(subject, content_type, reply)
        headers += extra
        return "\n".join(headers) + "\n\n" + body

    def ooo(self) -> str:
        c = self.c
        day = (self.when + timedelta(days=self.rng.randint(2, 20))).strftime("%d.%m.%Y")
        text = OOO[self.lang].format(day=day, domain=c.domain, name=c.name)
        subject = self.rng.choice(OOO_SUBJECT[self.lang]).format(subject=OUR_SUBJECT, day=day)
        headers = self.delivery(c.email)
        extra: list[str]
        if c.client == "outlook":
            extra = [
                "Auto-Submitted: auto-generated",
                "X-Auto-Response-Suppress: All",
                f"X-MS-Exchange-Inbox-Rules-Loop: {c.email}",
                "X-MS-Exchange-Generated-Message-Source: Mailbox Rules Agent",
            ]
        elif c.client == "gmail":
            extra = ["Auto-Submitted: auto-replied"]
        else:
            extra = [
                "Auto-Submitted: auto-replied (vacation)",
                "X-Autoreply: yes",
                "Precedence: bulk",
            ]
        b = self.boundary()
        ph, pb = self.encode_text(text + "\n")
        hh, hb = self.encode_text(self.html(text, ""), "html")
        ours = f"mailbot.{self.hexs(24)}@amphis.example"
        top = [
            f"From: {self.display(c.name, c.email)}",
            f"To: Amphis Support <{SUPPORT}>",
            f"Subject: {self.subject(subject)}",
            f"Date: {self.date()}",
            f"Message-ID: <{self.message_id}>",
            f"In-Reply-To: <{ours}>",
            f"References: <{ours}>",
            *extra,
            "MIME-Version: 1.0",
            f'Content-Type: multipart/alternative; boundary="{b}"',
        ]
        body = self.multipart("alternative", [f"{ph}\n\n{pb}", f"{hh}\n\n{hb}"], b)
        return "\n".join(headers + top) + "\n\n" + body

    def dsn(self) -> str:
        """A delivery status notification for one of our replies (multipart/report)."""
        c = self.c
        gone = f"{slug(c.first)}.{slug(self.rng.choice(LAST[self.lang]))}@{c.domain}"
        ours = f"mailbot.{self.hexs(24)}@amphis.example"
        b = self.boundary()
        mta = f"mail.{c.domain}"
        when = self.date(self.when)
        returned = (
            f"Return-Path: <{SUPPORT}>\nReceived: from smtp.amphis.example (smtp.amphis.example "
            f"[{self.ip()}])\n\tby {mta} (Postfix) with ESMTPS id {self.b64(10)}\n\tfor <{gone}>; {when}\n"
            f"From: Amphis Support <{SUPPORT}>\nTo: {gone}\nSubject: {OUR_SUBJECT}\n"
            f"Date: {when}\nMessage-ID: <{ours}>\nAuto-Submitted: auto-replied\n"
            "MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n"
            + self.our_reply(make_serial(self.rng))
        )
        if self.rng.random() < 0.6:
            sender = f"MAILER-DAEMON@{mta}"
            subject = "Undelivered Mail Returned to Sender"
            notice = (
                "Content-Description: Notification\nContent-Type: text/plain; charset=us-ascii\n\n"
                f"This is the mail system at host {mta}.\n\nI'm sorry to have to inform you that "
                "your message could not\nbe delivered to one or more recipients. It's attached "
                "below.\n\nFor further assistance, please send mail to postmaster.\n\nIf you do "
                "so, please include this problem report. You can\ndelete your own text from the "
                f"attached returned message.\n\n                   The mail system\n\n<{gone}>: "
                f"host {mta}[private/dovecot-lmtp] said: 550 5.1.1\n    <{gone}> User doesn't "
                "exist (in reply to RCPT TO command)\n"
            )
            from_line = f"From: MAILER-DAEMON@{mta} (Mail Delivery System)"
        else:
            sender = f"postmaster@{c.domain}"
            subject = f"Undeliverable: {OUR_SUBJECT}"
            notice = (
                'Content-Type: text/plain; charset="us-ascii"\nContent-Transfer-Encoding: 7bit\n\n'
                f"Your message to {gone} couldn't be delivered.\n{gone.split('@')[0]} wasn't found "
                f"at {c.domain}.\n\nAmphis Support   Office 365   {gone.split('@')[0]}\nAction Required\n\n"
                "Unknown To address\n\nHow to Fix It\nThe address may be misspelled or may not exist.\n"
            )
            from_line = f"From: Microsoft Outlook <postmaster@{c.domain}>"
        status = (
            f"Content-Description: Delivery report\nContent-Type: message/delivery-status\n\n"
            f"Reporting-MTA: dns; {mta}\nX-Postfix-Queue-ID: {self.b64(10)}\n"
            f"X-Postfix-Sender: rfc822; {SUPPORT}\nArrival-Date: {when}\n\n"
            f"Final-Recipient: rfc822; {gone}\nOriginal-Recipient: rfc822;{gone}\nAction: failed\n"
            f"Status: 5.1.1\nRemote-MTA: dns; {mta}\nDiagnostic-Code: smtp; 550 5.1.1 <{gone}> "
            "User doesn't exist\n"
        )
        returned_part = (
            f"Content-Description: Undelivered Message\nContent-Type: message/rfc822\n\n{returned}"
        )
        headers = self.delivery("", spf="none", dmarc="none", dkim=False)
        top = [
            from_line,
            f"Subject: {subject}",
            f"To: {SUPPORT}",
            f"Date: {when}",
            f"Message-Id: <{self.message_id}>",
            "Auto-Submitted: auto-replied",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/report; report-type=delivery-status;\n\tboundary="{b}"',
            "Content-Transfer-Encoding: 8bit",
        ]
        del sender
        body = "This is a MIME-encapsulated message.\n\n" + self.multipart(
            "report", [notice, status, returned_part], b
        )
        return "\n".join(headers + top) + "\n\n" + body

    def mail(self) -> bytes:
        if self.p.kind == "ooo":
            text = self.ooo()
        elif self.p.kind == "dsn":
            text = self.dsn()
        else:
            text = self.customer_mail()
        data = text.encode("utf-8")
        return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_WORD_STYLE = """<style><!--
/* Font Definitions */
@font-face
\t{font-family:"Cambria Math";
\tpanose-1:2 4 5 3 5 4 6 3 2 4;}
@font-face
\t{font-family:Calibri;
\tpanose-1:2 15 5 2 2 2 4 3 2 4;}
@font-face
\t{font-family:Aptos;}
/* Style Definitions */
p.MsoNormal, li.MsoNormal, div.MsoNormal
\t{margin:0cm;
\tfont-size:11.0pt;
\tfont-family:"Aptos",sans-serif;
\tmso-ligatures:standardcontextual;
\tmso-fareast-language:EN-US;}
a:link, span.MsoHyperlink
\t{mso-style-priority:99;
\tcolor:#467886;
\ttext-decoration:underline;}
span.EmailStyle17
\t{mso-style-type:personal-compose;
\tfont-family:"Aptos",sans-serif;
\tcolor:windowtext;}
.MsoChpDefault
\t{mso-style-type:export-only;
\tfont-size:11.0pt;
\tmso-fareast-language:EN-US;}
@page WordSection1
\t{size:612.0pt 792.0pt;
\tmargin:72.0pt 72.0pt 72.0pt 72.0pt;}
div.WordSection1
\t{page:WordSection1;}
--></style><!--[if gte mso 9]><xml>
<o:shapedefaults v:ext="edit" spidmax="1026" />
</xml><![endif]--><!--[if gte mso 9]><xml>
<o:shapelayout v:ext="edit">
<o:idmap v:ext="edit" data="1" />
</o:shapelayout></xml><![endif]-->
"""
