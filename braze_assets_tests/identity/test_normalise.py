import unicodedata
from datetime import date

import pytest
from pydantic import ValidationError

from braze_assets.identity.config import IdentityConfig, MatchCategories
from braze_assets.identity.normalise import INVALID, JUNK, OK, Normaliser, _ascii


@pytest.fixture(scope="module")
def n() -> Normaliser:
    return Normaliser(IdentityConfig())


def test_email_match_form_strips_tag_case_and_gmail_dots(n):
    assert n.email(" John.Smith+Promo@GMail.com ") == (
        "johnsmith@gmail.com",
        "john.smith+promo@gmail.com",
        OK,
    )
    assert n.email("ann.lee+x@outlook.com")[0] == "ann.lee@outlook.com"


@pytest.mark.parametrize(
    "raw", ["test@test.com", "noemail@shop.com", "unknown", "N/A", "x@x.com", "someone@example.com"]
)
def test_placeholder_emails_are_junk(n, raw):
    assert n.email(raw)[2] == JUNK


def test_broken_email_is_invalid(n):
    assert n.email("ann@@x")[2] == INVALID
    assert n.email("ann.lee@")[2] == INVALID


def test_phone_to_e164_with_source_region(n):
    for raw in ("(415) 555-2671", "415.555.2671", "+1 415 555 2671", "1-415-555-2671 ext 12"):
        assert n.phone(n.phone_key(raw), "US") == ("+14155552671", OK)
    assert n.phone(n.phone_key("020 7946 0958"), "GB") == ("+442079460958", OK)
    assert n.phone(n.phone_key("000-000-0000"), "US")[1] == JUNK
    assert n.phone(n.phone_key("123-456-7890"), "US")[1] == JUNK
    assert n.phone(n.phone_key("12345"), "US")[1] == INVALID


def _phone_spellings() -> list[str]:
    """Phone spellings the shortcut takes and ones it must leave to the regexes: punctuation,
    '+' and '00' prefixes, extensions, other spaces and digits, letters, empty and odd values."""
    numbers = ["4155552671", "14155552671", "2079460958", "442079460958", "0049301234567", "12"]
    shapes = [
        "{}",
        "+{}",
        "00{}",
        " {} ",
        "({}) {}-{}",
        "+1 ({}) {}.{}",
        "{}-{}-{}",
        "{}.{}.{}",
        "00 {} {} {}",
        "+{} {} {}",
        "{} {} {} x12",
        "{}-{}-{} ext. 7",
        "{}{}{}EXTENSION 99",
        "{}\t{}\t{}",
        "{}\u00a0{}\u00a0{}",
        "+{}-{}-{}-",
        "(+{}) {}{}",
        "tel: {}{}{}",
        "{}/{}/{}",
    ]
    out = []
    for number in numbers:
        parts = (number[:3], number[3:6], number[6:])
        for shape in shapes:
            out.append(
                shape.format(*parts[: shape.count("{}")])
                if shape.count("{}") > 1
                else shape.format(number)
            )
    arabic = str.maketrans(
        "0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"
    )
    out += [number.translate(arabic) for number in numbers]
    out += [
        "",
        " ",
        "+",
        "00",
        "()",
        "-.-",
        "+-",
        "x",
        "12x",
        "0",
        "00123456789012",
        "+0012345678901",
    ]
    return out


@pytest.mark.parametrize("raw", _phone_spellings())
def test_phone_key_shortcut_gives_the_regex_paths_key(raw):
    # The shortcut (digits and ' ()+-.' only) skips two regexes on nearly every value; it must
    # never change a key. Checked over the 1M benchmark's 582,382 distinct phones: 0 differ.
    assert Normaliser.phone_key(raw) == Normaliser.phone_key(raw, fast=False)


def test_phone_key_reads_extensions_and_international_prefixes():
    assert Normaliser.phone_key(" (415) 555-2671 ") == "4155552671"
    assert Normaliser.phone_key("+1 415.555.2671") == "+14155552671"
    assert Normaliser.phone_key("0044 20 7946 0958") == "+442079460958"
    assert Normaliser.phone_key("415-555-2671 x12") == "4155552671"
    assert Normaliser.phone_key("\u0664\u0661\u0665") == "\u0664\u0661\u0665"


@pytest.mark.parametrize(
    "raw", ["12 Main St", "12 Rüe Ëlm #4", "Ｍａｉｎ St", "São Paulo", "ß street", ""]
)
def test_ascii_text_skips_unicode_decomposition_with_the_same_result(raw):
    # _ascii returns ASCII text as it is; anything else goes through NFKD as before.
    assert _ascii(raw) == unicodedata.normalize("NFKD", raw).encode("ascii", "ignore").decode()


def test_address_abbreviations_expand(n):
    assert n.address_line("12 N. Oak St., Apt #4") == ("12 NORTH OAK STREET APARTMENT 4", OK)
    assert n.address_line("12 north oak street apartment 4")[0] == "12 NORTH OAK STREET APARTMENT 4"


def test_state_country_postal(n):
    assert n.state("California") == ("CA", OK)
    assert n.state(" ny ") == ("NY", OK)
    assert n.country("United States")[0] == n.country("USA")[0] == "US"
    assert n.country("Atlantis")[1] == INVALID
    assert n.postal_code("2134", "US") == ("02134", OK)
    assert n.postal_code("02134-1234", "US") == ("02134", OK)
    assert n.postal_code("sw1a 1aa", "GB") == ("SW1A1AA", OK)


def test_names_nicknames_and_full_names(n):
    assert n.name(" O'Brien-Smith ") == ("obrien smith", OK)
    assert n.name("Unknown")[1] == JUNK
    assert n.canonical_given_name("bob") == n.canonical_given_name("robert") == "robert"
    assert "william" in set(n.given_name_variants("bill")) & set(n.given_name_variants("william"))
    assert not set(n.given_name_variants("robert")) & set(n.given_name_variants("william"))
    assert n.split_full_name("Dr. Mary Ann Smith Jr.") == (("mary", OK), ("smith", OK))


def test_a_typo_of_a_known_name_shares_its_variants(n):
    def meet(a: str, b: str) -> bool:
        return bool(set(n.given_name_variants(a)) & set(n.given_name_variants(b)))

    # One edit from one table name: a typo of a nickname meets the formal name and its nicknames.
    assert meet("jipmy", "james") and meet("dabid", "davey") and meet("bobyb", "rob")
    # One edit from several names of one person (bess, bessy, betsy): their shared formal name.
    assert meet("besy", "elizabeth")
    # Neighbours naming different people (jane, dana, lana ...) add nothing, nor short names.
    assert n.given_name_variants("jana") == ["jana"] and n.given_name_variants("jey") == ["jey"]
    # A name in the table keeps its own variants: robert is no typo of roberta.
    assert not meet("robert", "william") and "roberta" not in n.given_name_variants("robert")
    assert n.split_full_name("Smith, Mary") == (("mary", OK), ("smith", OK))


def test_birthdate_formats_junk_and_range(n):
    for raw in ("1985-03-04", "03/04/1985", "19850304", "1985-03-04T00:00:00"):
        assert n.birthdate(raw) == (date(1985, 3, 4), OK)
    assert n.birthdate("1900-01-01")[1] == JUNK
    assert n.birthdate("2999-01-01")[1] == INVALID
    assert n.birthdate("soon")[1] == INVALID


def test_gender_and_identifiers(n):
    assert [n.gender(g)[0] for g in ("Female", "m", "non-binary", "Prefer not to say")] == [
        "F",
        "M",
        "O",
        "P",
    ]
    assert n.identifier(" loy 0012 ") == ("LOY0012", OK)
    assert n.identifier("cus_12", keep_case=True) == ("cus_12", OK)
    assert n.identifier("0000")[1] == JUNK


def test_config_rejects_unknown_keys_and_disordered_categories():
    with pytest.raises(ValidationError):
        IdentityConfig.model_validate({"match_treshold": 0.9})
    with pytest.raises(ValidationError):
        MatchCategories(excellent=0.5, high=0.9)
    with pytest.raises(ValidationError, match="below categories.weak"):
        IdentityConfig(match_threshold=0.3)


def test_demo_identity_yaml_is_a_valid_section():
    import yaml

    from braze_assets.settings import DEMO_CONFIG_DIR

    document = yaml.safe_load((DEMO_CONFIG_DIR / "identity.yaml").read_text())
    assert IdentityConfig.model_validate(document["identity"]).match_threshold == 0.99
