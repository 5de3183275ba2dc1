"""Figures: every number a text holds, in every form it can be written (1,500 = 1.500 = 1500;
1.5 million; fifteen hundred; zwanzig), so the guard can tell a summary's invented figures
from the source's own."""

from __future__ import annotations

import re

# A figure in the summary: digits, possibly grouped or with decimals (1,500 / 1.500 / 3.12 /
# 1 500), not glued to a letter before it (gemma3, v2 and H2O are names, not figures).
_NUMBER = r"\d+(?:[.,']\d+|[\u00a0\u202f ]\d{3}(?!\d))*(?:\s+(?P<scale>[^\W\d_]+))?"
_FIGURE = re.compile(r"(?<![\w])" + _NUMBER)
_ANY_DIGITS = re.compile(_NUMBER)
_GROUP_SEPARATORS = re.compile(r"[,.'\u00a0\u202f ]")

_UNITS: dict[str, int] = {}
for _lang_words in (
    # value: words in en, de, fr, es, it, pt, nl
    {0: "zero null zéro cero nul", 1: "one eins ein eine un une uno una um uma één"},
    {2: "two zwei deux dos due dois duas twee", 3: "three drei trois tres tre três drie"},
    {4: "four vier quatre cuatro quattro quatro", 5: "five fünf cinq cinco cinque vijf"},
    {6: "six sechs seis sei zes", 7: "seven sieben sept siete sette sete zeven"},
    {8: "eight acht huit ocho otto oito", 9: "nine neun neuf nueve nove negen"},
    {10: "ten zehn dix diez dieci dez tien", 11: "eleven elf onze once undici"},
    {12: "twelve zwölf douze doce dodici twaalf", 13: "thirteen dreizehn treize trece"},
    {14: "fourteen vierzehn quatorze catorce", 15: "fifteen fünfzehn quinze quince"},
    {16: "sixteen sechzehn seize dieciséis", 17: "seventeen siebzehn", 18: "eighteen achtzehn"},
    {19: "nineteen neunzehn", 20: "twenty zwanzig vingt veinte venti vinte twintig"},
    {30: "thirty dreißig trente treinta trenta", 40: "forty vierzig quarante cuarenta"},
    {50: "fifty fünfzig cinquante cincuenta", 60: "sixty sechzig soixante sesenta"},
    {70: "seventy siebzig setenta", 80: "eighty achtzig", 90: "ninety neunzig noventa"},
):
    for _value, _names in _lang_words.items():
        _UNITS.update(dict.fromkeys(_names.split(), _value))
_SCALES: dict[str, int] = {}
for _value, _names in {
    100: "hundred hundert cent cien ciento cento cem honderd",
    1000: "thousand tausend mille mil duizend",
    1_000_000: "million millions millionen millón millones milione milioni milhão miljoen",
    1_000_000_000: "billion billions milliarde milliard",
}.items():
    _SCALES.update(dict.fromkeys(_names.split(), _value))
_WORD = re.compile(r"\w+", re.UNICODE)


def words_of(text: str) -> list[str]:
    """The lower-cased words of `text` (the guard compares texts by them too)."""
    return [w.lower() for w in _WORD.findall(text)]


def _variants(figure: str, scale: str | None = None) -> set[str]:
    """Ways the same figure can be written: 1,500 = 1500 = 1.500; 1,5 = 1.5; 2.0 ~ 2;
    1.5 million = 1500000."""
    figure = figure.strip(".,' \u00a0\u202f")
    plain = _GROUP_SEPARATORS.sub("", figure)
    forms = {figure, plain, figure.replace(",", ".")}
    for form in list(forms):
        whole, dot, fraction = form.partition(".")
        if dot and fraction and set(fraction) == {"0"}:
            forms.add(whole)
    factor = _SCALES.get((scale or "").lower())
    if factor is not None:
        for form in list(forms):
            try:
                value = float(form) * factor
            except ValueError:
                continue
            if value.is_integer():
                forms.add(str(int(value)))
    return {f for f in forms if f}


def _figure_of(match: re.Match[str]) -> tuple[str, str | None]:
    scale = match.group("scale")
    digits = match.group(0)[: match.start("scale") - match.start()] if scale else match.group(0)
    return digits.strip(".,' \u00a0\u202f"), scale


def _number_words(text: str) -> set[str]:
    """Values written as words (`fifteen hundred`, `two`, `zwanzig`) as digit strings."""
    values: set[str] = set()
    total = current = 0
    seen = False
    for word in [*words_of(text.replace("-", " ")), ""]:
        if word in _UNITS:
            current += _UNITS[word]
            seen = True
        elif word in _SCALES:
            current = max(current, 1) * _SCALES[word]
            if _SCALES[word] >= 1000:
                total, current = total + current, 0
            seen = True
        elif word == "and" and seen:
            continue
        else:
            if seen:
                values.add(str(total + current))
            total = current = 0
            seen = False
    return values


def source_figures(source: str) -> set[str]:
    """Every figure the source has, in every written form (digits anywhere, number words)."""
    found: set[str] = set()
    for match in _ANY_DIGITS.finditer(source):
        digits, scale = _figure_of(match)
        found |= _variants(digits, scale)
        found |= set(re.findall(r"\d+", digits))
    return found | _number_words(source)


def invented_figures(summary: str, source: str, known: set[str] | None = None) -> set[str]:
    """Figures of `summary` written nowhere in `source` (in any form). `known`: the source's
    figures when already computed."""
    known = source_figures(source) if known is None else known
    invented = set()
    for match in _FIGURE.finditer(summary):
        figure, scale = _figure_of(match)
        if figure and not _variants(figure, scale) & known:
            invented.add(figure)
    return invented
