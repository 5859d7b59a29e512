"""Per-value standardisation of person fields, with the libraries made for each job.

Each function maps one raw value to `(normalised value or None, status)` with status one of
`ok`, `junk` (a placeholder meaning 'missing') or `invalid` (unparseable). Callers apply them to
the distinct raw values only (see `standardise.py`), so the cost scales with cardinality, not rows.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from datetime import date, datetime
from functools import cached_property, lru_cache

import phonenumbers
import pycountry
from email_validator import EmailNotValidError, validate_email
from nicknames import name_triplets

from braze_assets.identity.config import IdentityConfig

OK, JUNK, INVALID = "ok", "junk", "invalid"
Result = tuple[object, str]

# USPS Publication 28 suffixes and unit designators most often abbreviated in address lines.
ADDRESS_ABBREVIATIONS = {
    "ST": "STREET",
    "STR": "STREET",
    "AVE": "AVENUE",
    "AV": "AVENUE",
    "AVN": "AVENUE",
    "RD": "ROAD",
    "DR": "DRIVE",
    "DRV": "DRIVE",
    "LN": "LANE",
    "BLVD": "BOULEVARD",
    "BV": "BOULEVARD",
    "CT": "COURT",
    "CRT": "COURT",
    "PL": "PLACE",
    "PLZ": "PLAZA",
    "SQ": "SQUARE",
    "TER": "TERRACE",
    "TERR": "TERRACE",
    "PKWY": "PARKWAY",
    "PKY": "PARKWAY",
    "HWY": "HIGHWAY",
    "CIR": "CIRCLE",
    "CRES": "CRESCENT",
    "TRL": "TRAIL",
    "WY": "WAY",
    "ALY": "ALLEY",
    "EXPY": "EXPRESSWAY",
    "FWY": "FREEWAY",
    "MTN": "MOUNTAIN",
    "HTS": "HEIGHTS",
    "PT": "POINT",
    "XING": "CROSSING",
    "LP": "LOOP",
    "CV": "COVE",
    "RDG": "RIDGE",
    "APT": "APARTMENT",
    "STE": "SUITE",
    "BLDG": "BUILDING",
    "FL": "FLOOR",
    "RM": "ROOM",
    "UNIT": "UNIT",
    "N": "NORTH",
    "S": "SOUTH",
    "E": "EAST",
    "W": "WEST",
    "NE": "NORTHEAST",
    "NW": "NORTHWEST",
    "SE": "SOUTHEAST",
    "SW": "SOUTHWEST",
    "MT": "MOUNT",
    "FT": "FORT",
}
# Regions dialled with +1 whose numbers are checked per NPA-NXX prefix.
NANP_REGIONS = {"US", "CA", "PR", "VI", "GU", "AS", "MP"}
_UNIT_WORDS = {"APARTMENT", "SUITE", "UNIT", "ROOM", "FLOOR", "BUILDING"}
NAME_TITLES = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "sir", "rev"}
NAME_SUFFIXES = {"jr", "sr", "ii", "iii", "iv", "phd", "md", "esq"}
GENDERS = {
    "m": "M",
    "male": "M",
    "man": "M",
    "f": "F",
    "female": "F",
    "woman": "F",
    "o": "O",
    "other": "O",
    "non-binary": "O",
    "nonbinary": "O",
    "nb": "O",
    "x": "O",
    "n": "N",
    "not applicable": "N",
    "p": "P",
    "prefer not to say": "P",
    "prefer_not_to_say": "P",
    "declined": "P",
}
DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y%m%d",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%Y/%m/%d",
    "%m-%d-%Y",
    "%d %b %Y",
    "%b %d, %Y",
)
_EMAIL_ASCII = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*@([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$"
)
_NON_LETTER = re.compile(r"[^a-z ]+")
_SPACES = re.compile(r"\s+")
_PHONE_EXTENSION = re.compile(r"\s*(?:x|ext\.?|extension)\s*\d+\s*$", re.IGNORECASE)
# The usual phone punctuation: a value of ASCII digits and these only has no extension (every
# spelling of one holds an x) and its key is its digits, without running the two regexes.
_PHONE_PUNCTUATION = str.maketrans("", "", " ()+-.")
# Compiled once: re.sub(pattern, ...) looks its pattern up in re's cache on every call, a
# measurable share of a per-value function run a million times.
_NON_DIGIT = re.compile(r"\D")
_NOT_ADDRESS = re.compile(r"[^A-Z0-9# ]+")
_NOT_CITY = re.compile(r"[^A-Z ]+")
_NOT_POSTAL = re.compile(r"[^0-9A-Z]")
_ISO_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]")


def _ascii(text: str) -> str:
    """Accents dropped (NFKD, then ASCII only); ASCII text, most values, is already that."""
    return (
        text
        if text.isascii()
        else unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    )


# Names repeat (a million records hold tens of thousands of distinct words): a folded word is
# remembered, not folded again. A pure function, so the cache never changes a result.
@lru_cache(maxsize=1 << 17)
def _fold(text: str) -> str:
    """Lowercase ASCII letters and single spaces; accents dropped, punctuation removed."""
    ascii_text = _ascii(text).lower()
    ascii_text = ascii_text.replace("-", " ")
    return _SPACES.sub(" ", _NON_LETTER.sub("", ascii_text.replace("'", ""))).strip()


# A typo is only read as a known name from this many letters on (see _typo_variants).
_MIN_TYPO_NAME = 4


def _deletions(word: str) -> set[str]:
    return {word} | {word[:i] + word[i + 1 :] for i in range(len(word))}


def _one_edit(a: str, b: str) -> bool:
    """Damerau-Levenshtein (optimal string alignment) distance of a and b is exactly 1."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


class Normaliser:
    """All value rules for one identity config (junk lists are config)."""

    def __init__(self, identity: IdentityConfig):
        junk = identity.junk
        self.junk_any = {v.strip().lower() for v in junk.any_field}
        self.junk_emails = {v.strip().lower() for v in junk.emails}
        self.junk_local = {v.strip().lower() for v in junk.email_local_parts}
        self.junk_domains = {v.strip().lower() for v in junk.email_domains}
        self.junk_phone = set(junk.phone_digits)
        self.junk_dates = set(junk.birthdates)
        self.dotless_domains = {d.lower() for d in identity.strip_email_dots_for}
        self.today = date.today()

    def is_junk(self, raw: str) -> bool:
        return raw.strip().lower() in self.junk_any

    # names -----------------------------------------------------------------------------------
    def name(self, raw: str) -> Result:
        if self.is_junk(raw):
            return None, JUNK
        folded = _fold(raw)
        if not folded:
            return None, INVALID
        if folded in self.junk_any:
            return None, JUNK
        return folded, OK

    @staticmethod
    def display_name(raw: str) -> str:
        cleaned = _SPACES.sub(" ", raw.strip())
        return cleaned.title() if cleaned.isupper() or cleaned.islower() else cleaned

    def split_full_name(self, raw: str) -> tuple[Result, Result]:
        """'Smith, John' or 'Dr John A Smith Jr' -> (given, surname)."""
        if self.is_junk(raw):
            return (None, JUNK), (None, JUNK)
        if "," in raw:
            last, _, first = raw.partition(",")
            tokens = first.split()[:1] + last.split()[-1:]
            given, surname = (
                (tokens[0], tokens[1])
                if len(tokens) == 2
                else (None, tokens[0] if tokens else None)
            )
        else:
            words = [w for w in raw.replace(".", " ").split()]
            words = [w for w in words if _fold(w) not in NAME_TITLES] or words
            while len(words) > 1 and _fold(words[-1]) in NAME_SUFFIXES:
                words.pop()
            if not words:
                return (None, INVALID), (None, INVALID)
            given, surname = (words[0], words[-1]) if len(words) > 1 else (None, words[0])
        given_result = self.name(given) if given else (None, INVALID)
        return given_result, (self.name(surname) if surname else (None, INVALID))

    @cached_property
    def _canonical(self) -> dict[str, str]:
        formal_of: dict[str, set[str]] = defaultdict(set)
        nick_count: dict[str, int] = defaultdict(int)
        for triplet in name_triplets():
            formal, nick = triplet.name1.strip().lower(), triplet.name2.strip().lower()
            formal_of[nick].add(formal)
            nick_count[formal] += 1
        # The table lists pairs both ways (bob -> robert, robert -> bob), so the representative of a
        # name is the candidate with the most nicknames (the formal name), then one sharing its
        # first letter, then the longest; a stable pick, so equal inputs always meet.
        # Only names at least as formal (as many nicknames) count as variants: the table also lists
        # robert -> bill, which would otherwise make robert and william share 'bill'.
        self._variants = {
            name: sorted({name} | {f for f in formals if nick_count[f] >= max(nick_count[name], 1)})
            for name, formals in formal_of.items()
        }
        # Every name of the table under each of its one-letter deletions (and itself): a name
        # one edit away shares a key with it (symmetric deletion), checked by edit distance.
        self._by_deletion: dict[str, set[str]] = defaultdict(set)
        for name in set(formal_of) | set(nick_count):
            for key in _deletions(name):
                self._by_deletion[key].add(name)
        return {
            name: min({name, *formals}, key=lambda f: (-nick_count[f], f[0] != name[0], -len(f), f))
            for name, formals in formal_of.items()
        }

    def given_name_variants(self, folded: str) -> list[str]:
        """The name and every formal name it is a nickname of; two names sharing one are nicknames
        of the same name (bill and william share william; bill and bob share robert)."""
        first = folded.split(" ")[0]
        self._canonical  # noqa: B018 - builds the variant table
        if first in self._variants:
            return self._variants[first]
        return sorted({first, *self._typo_variants(first)})

    def _typo_variants(self, first: str) -> set[str]:
        """For a name the nickname table does not know: the variants every table name one edit
        away shares (jipmy -> jimmy -> james; besy -> bess, bessy, betsy -> elizabeth), so a
        typo of a nickname still meets the formal name. Nothing when the neighbours name
        different people (jana: jane, dana, lana), or the name is short (three letters are one
        edit from too many names), or the name is in the table itself."""
        if len(first) < _MIN_TYPO_NAME or first in self._by_deletion.get(first, ()):
            return set()
        near = {
            name
            for key in _deletions(first)
            for name in self._by_deletion.get(key, ())
            if _one_edit(first, name)
        }
        shared: set[str] | None = None
        for name in near:
            variants = set(self._variants.get(name, [name]))
            shared = variants if shared is None else shared & variants
        return shared or set()

    def canonical_given_name(self, folded: str) -> str:
        first = folded.split(" ")[0]
        return self._canonical.get(first, first)

    # contact ---------------------------------------------------------------------------------
    def email(self, raw: str) -> tuple[str | None, str | None, str]:
        """-> (match form, display form, status). Match form drops +tags (and dots where ignored)."""
        display = raw.strip().lower()
        if display in self.junk_emails or self.is_junk(display):
            return None, None, JUNK
        if not _EMAIL_ASCII.match(display) or ".." in display:
            try:
                display = validate_email(display, check_deliverability=False).normalized.lower()
            except EmailNotValidError:
                return None, None, INVALID
        local, _, domain = display.rpartition("@")
        local = local.split("+", 1)[0]
        if domain in self.dotless_domains:
            local = local.replace(".", "")
        if local in self.junk_local or domain in self.junk_domains or not local:
            return None, None, JUNK
        return f"{local}@{domain}", display, OK

    def phone(self, key: str, region: str) -> Result:
        """`key` is '+'-prefixed digits or bare digits (formatting already removed)."""
        digits = key.lstrip("+")
        national = digits[-10:]
        if (
            not digits
            or len(set(digits)) == 1
            or national in self.junk_phone
            or len(set(national)) == 1
        ):
            return None, JUNK
        nanp = self._nanp_national(key, digits, region)
        if nanp is not None:
            return ("+1" + nanp, OK) if self._nanp_valid(nanp[:6]) else (None, INVALID)
        try:
            number = phonenumbers.parse(key, region)
        except phonenumbers.NumberParseException:
            return None, INVALID
        if not phonenumbers.is_valid_number(number):
            return None, INVALID
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), OK

    @staticmethod
    def _nanp_national(key: str, digits: str, region: str) -> str | None:
        """The 10-digit national number of a North American (+1) number, else None."""
        if key.startswith("+"):
            return digits[1:] if len(digits) == 11 and digits[0] == "1" else None
        if region not in NANP_REGIONS:
            return None
        if len(digits) == 11 and digits[0] == "1":
            return digits[1:]
        return digits if len(digits) == 10 else None

    @cached_property
    def _nanp_prefixes(self) -> dict[str, bool]:
        return {}

    def _nanp_valid(self, prefix: str) -> bool:
        # NANP validity is decided by area code and exchange (NPA-NXX); the four subscriber digits
        # never change it, so phonenumbers is asked once per prefix instead of once per number.
        known = self._nanp_prefixes.get(prefix)
        if known is None:
            number = phonenumbers.PhoneNumber(country_code=1, national_number=int(prefix + "2345"))
            # Most +1 numbers are US or Canadian; asking those regions first skips the scan over
            # all 25 NANP regions that is_valid_number does.
            known = self._nanp_prefixes[prefix] = (
                phonenumbers.is_valid_number_for_region(number, "US")
                or phonenumbers.is_valid_number_for_region(number, "CA")
                or phonenumbers.is_valid_number(number)
            )
        return known

    @staticmethod
    def phone_key(raw: str, fast: bool = True) -> str:
        """'+'-prefixed digits (international spelling) or bare digits, extension dropped.
        `fast=False` always takes the regex path (tests hold the shortcut to its results)."""
        raw = raw.strip()
        digits = raw.translate(_PHONE_PUNCTUATION)
        if not (fast and digits.isascii() and digits.isdigit()):
            raw = _PHONE_EXTENSION.sub("", raw)
            digits = _NON_DIGIT.sub("", raw)
        if raw.startswith("00") and len(digits) > 11:
            return "+" + digits[2:]
        return ("+" if raw.startswith("+") else "") + digits

    # address ---------------------------------------------------------------------------------
    def address_line(self, raw: str) -> Result:
        if self.is_junk(raw):
            return None, JUNK
        text = _ascii(raw).upper()
        text = _NOT_ADDRESS.sub(" ", text.replace("#", " # "))
        tokens: list[str] = []
        for token in text.split():
            if token == "#":
                # '#4' is a unit number, unless a unit word already says so ('Apt #4').
                if tokens and tokens[-1] in _UNIT_WORDS:
                    continue
                token = "APARTMENT"
            tokens.append(ADDRESS_ABBREVIATIONS.get(token, token))
        if not tokens:
            return None, INVALID
        return " ".join(tokens), OK

    def city(self, raw: str) -> Result:
        if self.is_junk(raw):
            return None, JUNK
        text = _ascii(raw).upper()
        tokens = [
            ADDRESS_ABBREVIATIONS.get(t, t) if t in ("ST", "MT", "FT") else t
            for t in _NOT_CITY.sub(" ", text).split()
        ]
        return (" ".join(tokens), OK) if tokens else (None, INVALID)

    @cached_property
    def _subdivisions(self) -> dict[str, str]:
        names: dict[str, str] = {}
        for sub in pycountry.subdivisions:
            code = sub.code.split("-", 1)[1]
            names[_fold(sub.name).upper()] = code
        return names

    def state(self, raw: str) -> Result:
        if self.is_junk(raw):
            return None, JUNK
        text = _fold(raw).upper()
        if not text:
            return None, INVALID
        if len(text.replace(" ", "")) <= 3:
            return text.replace(" ", ""), OK
        return self._subdivisions.get(text, text), OK

    def country(self, raw: str) -> Result:
        if self.is_junk(raw):
            return None, JUNK
        text = raw.strip()
        aliases = {
            "USA": "US",
            "U.S.": "US",
            "U.S.A.": "US",
            "UK": "GB",
            "ENGLAND": "GB",
            "AMERICA": "US",
        }
        text = aliases.get(text.upper(), text)
        try:
            return pycountry.countries.lookup(text).alpha_2, OK
        except LookupError:
            try:
                return pycountry.countries.search_fuzzy(text)[0].alpha_2, OK
            except LookupError:
                return None, INVALID

    def postal_code(self, raw: str, country: str | None) -> Result:
        if self.is_junk(raw):
            return None, JUNK
        text = _NOT_POSTAL.sub("", raw.upper())
        if country == "US":
            digits = _NON_DIGIT.sub("", raw.split("-")[0])
            if len(digits) in (3, 4):  # leading zeros lost to a spreadsheet
                digits = digits.zfill(5)
            if len(digits) == 9:
                digits = digits[:5]
            if len(digits) != 5 or digits == "00000":
                return None, INVALID if digits != "00000" else JUNK
            return digits, OK
        return (text, OK) if text else (None, INVALID)

    # other -----------------------------------------------------------------------------------
    def birthdate(self, raw: str) -> Result:
        if self.is_junk(raw):
            return None, JUNK
        text = raw.strip()[:10] if _ISO_DATE_TIME.match(raw.strip()) else raw.strip()
        for fmt in DATE_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt).date()
            except ValueError:
                continue
            if parsed.isoformat() in self.junk_dates:
                return None, JUNK
            if parsed.year < 1900 or parsed > self.today:
                return None, INVALID
            return parsed, OK
        return None, INVALID

    def gender(self, raw: str) -> Result:
        text = raw.strip().lower()
        if text in GENDERS:
            return GENDERS[text], OK
        if text in self.junk_any or text in ("u", "unknown", "unspecified"):
            return None, JUNK
        return None, INVALID

    def identifier(self, raw: str, keep_case: bool = False) -> Result:
        """Whitespace never matters in an id; case only where the id is ours to fold (not external ids)."""
        if self.is_junk(raw):
            return None, JUNK
        text = _SPACES.sub("", raw)
        text = text if keep_case else text.upper()
        if not text or len(set(text)) == 1 and text[0] in "0Xx":
            return None, JUNK
        return text, OK
