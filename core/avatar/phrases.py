"""Spoken pointers to what the avatar does not read out, in the answer's language.

Each language has: a sentence for a code block, a noun phrase for inline code and for a link
(they stand inside a sentence: "Run the code in the chat first"), a sentence for a table, the
sentence that ends a shortened script, one for an answer with nothing to say aloud, and a
sentence and a noun phrase for a LaTeX formula. Where a
language inflects the noun phrase (German, Russian, Polish) the phrase is in the form that fits
most sentences; "chat" is avoided in French, where TTS reads it as "cat".
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Phrases:
    """The pointer phrases of one language."""

    code: str
    code_inline: str
    link: str
    table: str
    rest: str
    answer: str
    formula: str
    formula_inline: str


# fmt: off
PHRASES: dict[str, Phrases] = {
    "en": Phrases("The code is in the chat.", "the code in the chat", "the link in the chat",
                  "The table is in the chat.", "The rest is in the chat.",
                  "The answer is in the chat.",
                  "The formula is in the chat.", "the formula in the chat"),
    "es": Phrases("El código está en el chat.", "el código del chat", "el enlace del chat",
                  "La tabla está en el chat.", "El resto está en el chat.",
                  "La respuesta está en el chat.",
                  "La fórmula está en el chat.", "la fórmula del chat"),
    "fr": Phrases("Le code est dans la conversation.", "le code de la conversation",
                  "le lien dans la conversation", "Le tableau est dans la conversation.",
                  "La suite est dans la conversation.", "La réponse est dans la conversation.",
                  "La formule est dans la conversation.", "la formule de la conversation"),
    "de": Phrases("Der Code steht im Chat.", "Code im Chat", "Link im Chat",
                  "Die Tabelle steht im Chat.", "Der Rest steht im Chat.",
                  "Die Antwort steht im Chat.",
                  "Die Formel steht im Chat.", "die Formel im Chat"),
    "it": Phrases("Il codice è nella chat.", "il codice nella chat", "il link nella chat",
                  "La tabella è nella chat.", "Il resto è nella chat.",
                  "La risposta è nella chat.",
                  "La formula è nella chat.", "la formula nella chat"),
    "pt": Phrases("O código está no chat.", "o código no chat", "o link no chat",
                  "A tabela está no chat.", "O resto está no chat.",
                  "A resposta está no chat.",
                  "A fórmula está no chat.", "a fórmula no chat"),
    "nl": Phrases("De code staat in de chat.", "de code in de chat", "de link in de chat",
                  "De tabel staat in de chat.", "De rest staat in de chat.",
                  "Het antwoord staat in de chat.",
                  "De formule staat in de chat.", "de formule in de chat"),
    "pl": Phrases("Kod jest na czacie.", "kod na czacie", "link na czacie",
                  "Tabela jest na czacie.", "Reszta jest na czacie.",
                  "Odpowiedź jest na czacie.",
                  "Wzór jest na czacie.", "wzór na czacie"),
    "ru": Phrases("Код в чате.", "код в чате", "ссылка в чате", "Таблица в чате.",
                  "Остальное в чате.", "Ответ в чате.",
                  "Формула в чате.", "формула в чате"),
    "tr": Phrases("Kod sohbette.", "sohbetteki kod", "sohbetteki bağlantı", "Tablo sohbette.",
                  "Gerisi sohbette.", "Yanıt sohbette.",
                  "Formül sohbette.", "sohbetteki formül"),
    "ja": Phrases("コードはチャットにあります。", "チャットのコード", "チャットのリンク",
                  "表はチャットにあります。", "続きはチャットにあります。",
                  "回答はチャットにあります。",
                  "数式はチャットにあります。", "チャットの数式"),
    "zh": Phrases("代码在聊天里。", "聊天里的代码", "聊天里的链接", "表格在聊天里。",
                  "其余内容在聊天里。", "回答在聊天里。",
                  "公式在聊天里。", "聊天里的公式"),
    "ko": Phrases("코드는 채팅에 있습니다.", "채팅에 있는 코드", "채팅에 있는 링크",
                  "표는 채팅에 있습니다.", "나머지는 채팅에 있습니다.",
                  "답변은 채팅에 있습니다.",
                  "수식은 채팅에 있습니다.", "채팅에 있는 수식"),
    "hi": Phrases("कोड चैट में है।", "चैट में दिया गया कोड", "चैट में दिया गया लिंक",
                  "तालिका चैट में है।", "बाकी चैट में है।", "जवाब चैट में है।",
                  "सूत्र चैट में है।", "चैट में दिया गया सूत्र"),
    "uk": Phrases("Код у чаті.", "код у чаті", "посилання в чаті", "Таблиця в чаті.",
                  "Решта в чаті.", "Відповідь у чаті.",
                  "Формула в чаті.", "формула в чаті"),
    "sv": Phrases("Koden finns i chatten.", "koden i chatten", "länken i chatten",
                  "Tabellen finns i chatten.", "Resten finns i chatten.",
                  "Svaret finns i chatten.",
                  "Formeln finns i chatten.", "formeln i chatten"),
    "ar": Phrases("الكود في المحادثة.", "الكود في المحادثة", "الرابط في المحادثة",
                  "الجدول في المحادثة.", "البقية في المحادثة.", "الإجابة في المحادثة.",
                  "المعادلة في المحادثة.", "المعادلة في المحادثة"),
}
# fmt: on

# Letters of a script → the language whose phrases fit when no language is given.
_SCRIPTS = (
    ("HIRAGANA", "ja"),
    ("KATAKANA", "ja"),
    ("HANGUL", "ko"),
    ("CJK", "zh"),
    ("CYRILLIC", "ru"),
    ("ARABIC", "ar"),
    ("DEVANAGARI", "hi"),
)


def phrases_for(language: str | None) -> Phrases:
    """Return the phrases for an ISO 639-1 code ("pt", "pt-BR", "pt_BR"); English otherwise."""
    return PHRASES.get(normalise_language(language) or "en", PHRASES["en"])


def pointers(phrases: Phrases) -> tuple[str, ...]:
    """Return the phrases that only point to the chat, longest first: none of the answer's."""
    every = (phrases.code, phrases.code_inline, phrases.link, phrases.table, phrases.rest)
    formulas = (phrases.formula, phrases.formula_inline)
    return tuple(sorted((*every, phrases.answer, *formulas), key=len, reverse=True))


def normalise_language(language: str | None) -> str | None:
    """Return the lower-case primary subtag of a language tag, or None when there is none."""
    if not language or not language.strip():
        return None
    return language.strip().replace("_", "-").split("-")[0].lower()


def guess_language(text: str) -> str:
    """Guess a language from the script of the letters: kana, Hangul, Han, Cyrillic...; else en.

    A cheap stand-in for a detector when the caller gives no language: it only has to pick
    the phrase table, and a Latin-script answer gets English phrases.
    """
    return script_language(text) or "en"


def script_language(text: str) -> str | None:
    """Name the language most letters' script is written in (Cyrillic: ru); None for Latin.

    At least a fifth of the letters must be of that script: a Latin answer quoting one
    Russian word has no language here.
    """
    counts: dict[str, int] = {}
    letters = 0
    for char in text:
        if not char.isalpha():
            continue
        letters += 1
        name = unicodedata.name(char, "")
        for prefix, language in _SCRIPTS:
            if name.startswith(prefix):
                counts[language] = counts.get(language, 0) + 1
                break
    if not counts or max(counts.values()) * 5 < letters:
        return None
    if counts.get("ja", 0) * 10 >= counts.get("zh", 0) and "ja" in counts:
        return "ja"  # Japanese mixes kana into Han text; Chinese has none
    return max(counts, key=lambda language: counts[language])
