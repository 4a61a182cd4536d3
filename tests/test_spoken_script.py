"""The avatar's spoken script: Markdown answers become plain, capped, speakable text."""

from __future__ import annotations

import random
import re

import pytest

from core.avatar import (
    SentenceStream,
    SpokenScript,
    estimate_seconds,
    sentences,
    speakable,
    spoken_script,
)
from core.avatar.inline import is_cjk, with_full_stop
from core.avatar.phrases import PHRASES, guess_language, phrases_for
from core.avatar.voices import DEFAULT_VOICES

EN = PHRASES["en"]
EMOJI = re.compile(
    "[\u2190-\u21ff\u2300-\u23ff\u25a0-\u25ff\u2600-\u27bf\u2b00-\u2bff\ufe0f\u200d\u20e3"
    "\U0001f000-\U0001faff\U000e0000-\U000e007f]"
)

SPEAKABLE = [
    ("heading", "# Title\n\nBody text", "Title. Body text."),
    ("closed heading", "## Setup ##\nRun it.", "Setup. Run it."),
    ("setext heading", "Title\n=====\n\nBody.", "Title. Body."),
    (
        "emphasis",
        "**bold** and *it* and _under_ and ~~gone~~ words",
        "bold and it and under and gone words.",
    ),
    ("bullets", "- one\n- two\n* three", "one. two. three."),
    (
        "nested list",
        "- fruit\n  - apple\n    - green\n  - pear\n- veg",
        "fruit. apple. green. pear. veg.",
    ),
    ("numbered list", "1. First step\n2. Second step\n3) Done!", "First step. Second step. Done!"),
    ("bold in items", "- **Speed:** fast\n- **Cost**: low", "Speed: fast. Cost: low."),
    ("task list", "- [x] done\n- [ ] todo", "done. todo."),
    ("list after paragraph", "You need:\n- milk\n- eggs", "You need: milk. eggs."),
    ("block quote", "> Quoted text\n> continues\n\nReply.", "Quoted text continues. Reply."),
    ("nested quote", "> > deep\n> shallow", "deep shallow."),
    ("horizontal rule", "Before\n\n---\n\nAfter\n***\nEnd", "Before. After. End."),
    ("table", "| a | b |\n|---|:-:|\n| 1 | 2 |\n\nAfter.", f"{EN.table} After."),
    ("table without outer pipes", "a | b\n--|--\n1 | 2", EN.table),
    ("table of a header", "| a | b |\n|---|---|\nAfter.", f"{EN.table} After."),
    ("pipe in prose", "Choose A | B now", "Choose A B now."),
    ("pipe over a rule", "Choose A | B\n---\nNext.", "Choose A B. Next."),  # no table
    ("fenced code", "Run this:\n```bash\nls -la\n```\nDone.", f"Run this: {EN.code} Done."),
    ("tilde fence", "~~~\ncode\n~~~\nAfter", f"{EN.code} After."),
    ("unclosed fence", "Here:\n```python\nprint(1)\n# comment", f"Here: {EN.code}"),
    ("fence in list", "1. Install:\n   ```\n   pip x\n   ```\n2. Run", f"Install: {EN.code} Run."),
    ("empty fence", "```\n```\nAfter.", f"{EN.code} After."),
    # After a fence, an indented line after a blank line is list text only if the list goes on.
    ("fence ends the list", "- item\n```\ncode\n```\n\n    indented after", f"item. {EN.code}"),
    (
        "fence inside the list",
        "1. Install:\n   ```\n   pip x\n   ```\n\n    more about it",
        f"Install: {EN.code} more about it.",
    ),
    (
        "fence indented by one",
        "- item\n ```\n x\n ```\n\n    more about it",
        f"item. {EN.code} more about it.",
    ),
    ("longer closing fence", "````\n```\ninner\n```\n````\nOut.", f"{EN.code} Out."),
    (
        "indented code",
        "Example:\n\n    x = 1\n\n    y = 2\n\nThat's it.",
        f"Example: {EN.code} That's it.",
    ),
    (
        "indented code lines",
        "Example:\n\n    x = 1\n    y = 2\n\nDone.",
        f"Example: {EN.code} Done.",
    ),
    (
        "less indented line ends code",
        "Example:\n\n    x = 1\n   back to text",
        f"Example: {EN.code} back to text.",
    ),
    (
        "indented code then text",
        "Example:\n\n    x = 1\n    y = 2\nDone.",
        f"Example: {EN.code} Done.",
    ),
    ("three spaces is text", "Example:\n\n   x is one\n\nDone.", "Example: x is one. Done."),
    ("indented list text", "- item\n\n    more about it", "item. more about it."),
    ("only code", "```\nx = 1\n```", EN.code),
    ("code blocks in a row", "```\na\n```\n\n```\nb\n```", EN.code),
    (
        "inline identifier",
        "Install `numpy` and `max_seconds` first.",
        "Install numpy and max seconds first.",
    ),
    ("inline code", "Run `pip install -r requirements.txt` now.", "Run the code in the chat now."),
    ("inline file name", "Copy `.env.example` to `.env`.", "Copy .env.example to .env."),
    (
        "inline flag and dot",
        "Use `-x` and `x.` now.",
        "Use the code in the chat and the code in the chat now.",
    ),
    ("inline underscore", "Type `_` here.", "Type the code in the chat here."),
    ("identifier of 32", f"Use `{'a' * 32}` now.", f"Use {'a' * 32} now."),
    ("identifier of 33", f"Use `{'a' * 33}` now.", "Use the code in the chat now."),
    ("empty link text", "See [](https://x.y) now.", "See the link in the chat now."),
    ("url ending in X", "See https://x.y/AX now", "See the link in the chat now."),
    ("closing quote", 'Say "hi"', 'Say "hi".'),
    ("ends in X", "I met Malcolm X", "I met Malcolm X."),
    ("starts with X", "Xylophones are loud.", "Xylophones are loud."),
    ("leading comma", ", then more", "then more."),
    ("double backtick code", "Type ``a ` b`` here.", "Type the code in the chat here."),
    (
        "markdown link",
        'See [the docs](https://example.com/docs "Docs") for more.',
        "See the docs for more.",
    ),
    (
        "link with parentheses",
        "[Foo](https://en.wikipedia.org/wiki/Foo_(bar)) is good.",
        "Foo is good.",
    ),
    ("link named by its url", "[https://x.y](https://x.y)", "the link in the chat."),
    ("reference link", "Read [the guide][1].\n\n[1]: https://x.y/guide", "Read the guide."),
    ("bare url at sentence end", "see https://a.b/c.", "see the link in the chat."),
    (
        "url in parentheses",
        "Read it (see https://x.y/z) first.",
        "Read it (see the link in the chat) first.",
    ),
    ("only url in parentheses", "Docs (https://x.y/z).", "Docs (the link in the chat)."),
    ("autolink", "Go to <https://x.y>.", "Go to the link in the chat."),
    ("www url", "Visit www.example.com today.", "Visit the link in the chat today."),
    ("image", "![logo](https://x.y/logo.png) Welcome.", "Welcome."),
    ("emoji", "Great job 🎉🎉!", "Great job!"),
    ("zwj family", "Family 👨‍👩‍👧‍👦 time 👩🏽‍💻.", "Family time."),
    ("flags", "Hello 🇫🇷 friends 🏴󠁧󠁢󠁳󠁣󠁴󠁿.", "Hello friends."),
    ("keycap and dingbat", "Step 1️⃣ begins ✅ now", "Step begins now."),
    ("skin tone and heart", "Thanks 👍🏽 ❤️", "Thanks."),
    ("emoji bullets", "- ✅ Fast\n- 🚀 Cheap", "Fast. Cheap."),
    ("emoticons", "Great :) see you ;-) and :D, I <3 it ^_^ :(", "Great see you and, I it."),
    (
        "no emoticon",
        "Ratio 16:9 at 3:30 (see below:) key: value",
        "Ratio 16:9 at 3:30 (see below:) key: value.",
    ),
    (
        "html",
        "<p>Hello <b>world</b></p><br/>Bye &amp; thanks &quot;all&quot;",
        'Hello world Bye & thanks "all".',
    ),
    ("html comment", "Visible <!-- hidden --> text", "Visible text."),
    ("escaped entity tag", "Use &lt;div&gt; here", "Use div here."),
    (
        "escaped characters",
        "2 \\* 3 is 6, \\*not bold\\* and 5 * 4",
        "2 × 3 is 6, not bold and 5 × 4.",
    ),
    (
        "escaped block markers",
        "\\# Not a heading\n\n1\\. Not a list",
        "Not a heading. 1. Not a list.",
    ),
    ("footnote", "A claim[^1].\n\n[^1]: Source.", "A claim."),
    ("arrows", "Input -> output → done", "Input, output, done."),
    ("chinese", "你好，世界。我是**机器人**！这是测试", "你好，世界。我是机器人！这是测试。"),
    ("japanese", "# こんにちは\n\n今日はいい天気ですね", "こんにちは。今日はいい天気ですね。"),
    ("korean", "## 안녕하세요\n\n반갑습니다", "안녕하세요. 반갑습니다."),
    (
        "whitespace",
        "  Many\t\tspaces\u00a0here  \n\n\n\n  and\u200b there  ",
        "Many spaces here. and there.",
    ),
    ("crlf", "Line one\r\n\r\nLine two", "Line one. Line two."),
    ("c sharp", "I like C# a lot", "I like C# a lot."),
    (
        "latex display",
        "The roots:\n\n\\[\nx = \\frac{-b \\pm \\sqrt{b^2 - 4ac}}{2a}\n\\]\n\nDone.",
        f"The roots: {EN.formula} Done.",
    ),
    ("latex lines like a list", "$$\na\n- 4ac\n# b^2\n$$\nAfter.", f"{EN.formula} After."),
    ("latex display on one line", "Area:\n$$A = \\pi r^2$$\nDone.", f"Area: {EN.formula} Done."),
    ("latex in a sentence", "So $$A = \\pi r^2$$ here.", "So the formula in the chat here."),
    ("latex inline", "Here $E = mc^2$ holds.", "Here the formula in the chat holds."),
    ("latex parenthesised", "Where \\(a \\neq 0\\).", "Where the formula in the chat."),
    ("simple inline math", "With $a = 1$ and $n$ steps.", "With a = 1 and n steps."),
    ("money is no formula", "From $5 to $10, or $5-$10.", "From $5 to $10, or $5-$10."),
    ("money both sides", "Pay $5 and get 10$ back.", "Pay $5 and get 10$ back."),
    (
        "call parentheses",
        "Use the `print()` function and `os.path.join()`.",
        "Use the print function and os.path.join.",
    ),
    ("citations", "It is true [1] and known [2, 3].", "It is true and known."),
    (
        "em dash",
        "Paris — the capital – is big. Ready—set.",
        "Paris, the capital, is big. Ready, set.",
    ),
    ("dash after a full stop", "— Hi, — he said. — Then? (— no)", "Hi, he said. Then? (no)."),
    ("en dash range", "From 2020–2024.", "From 2020–2024."),
    (
        "powers",
        "Area in m^2, volume n^3, and 2^10 = 1024, x^ y.",
        "Area in m², volume n³, and 2^10 = 1024, x y.",
    ),
    ("windows path", "Open C:\\Users\\me now.", "Open C: Users me now."),
    ("empty", "", ""),
    ("blank", "  \n\t ", ""),
    ("only emoji", "🎉🔥👍", ""),
]


@pytest.mark.parametrize(
    ("answer", "expected"), [c[1:] for c in SPEAKABLE], ids=[c[0] for c in SPEAKABLE]
)
def test_speakable(answer: str, expected: str) -> None:
    assert speakable(answer, "en") == expected


AWKWARD = [c[1] for c in SPEAKABLE if c[0] != "c sharp"] + [
    "# Plan\n\n1. **Install** with `pip install avatarbot` (see https://pypi.org/p/x).\n"
    "   - then run:\n\n     ```sh\n     avatarbot run\n     ```\n"
    "2. Open <http://127.0.0.1:8080> 🎉\n\n"
    "| key | value |\n| --- | --- |\n| A | `1` |\n\n> **Note:** done &mdash; *really*.\n"
]


@pytest.mark.parametrize("answer", AWKWARD, ids=range(len(AWKWARD)))
def test_nothing_unspeakable_remains(answer: str) -> None:
    text = speakable(answer)
    assert not re.search(r"[*#`<>|]|https?|www\.", text), text
    assert not EMOJI.search(text), text
    assert text == " ".join(text.split())


def test_a_comparison_keeps_its_sign() -> None:
    # ">" and "<" beside "=" were dropped: "a >= b" was read "a equals b".
    answer = "Here a >= b, a <= c, x != y and 5 < 6."
    assert speakable(answer, "en") == answer


SENTENCES = [
    (
        "abbreviations and decimals",
        "Dr. Smith paid 3.14 dollars, e.g. cash. Then he left.",
        ["Dr. Smith paid 3.14 dollars, e.g. cash.", "Then he left."],
    ),
    (
        "url at sentence end",
        "see https://a.b/c. Next one!",
        ["see the link in the chat.", "Next one!"],
    ),
    ("ellipsis and question", "Wait… really? Yes!! ok.", ["Wait… really?", "Yes!! ok."]),
    ("lower case goes on", "It costs approx. five. no more", ["It costs approx. five. no more."]),
    ("initials", "J. R. R. Tolkien wrote it. The end.", ["J. R. R. Tolkien wrote it.", "The end."]),
    ("bracketed title", "See (Dr. Smith) now. Bye.", ["See (Dr. Smith) now.", "Bye."]),
    ("quoted title", 'Ask "Dr. Who" now. Bye.', ['Ask "Dr. Who" now.', "Bye."]),
    ("quotes close a sentence", 'He said "stop." Then left.', ['He said "stop."', "Then left."]),
    ("paragraph break", "No stop here\n\nNext", ["No stop here.", "Next."]),
    ("cjk stops", "你好。世界！好吗？是", ["你好。", "世界！", "好吗？", "是。"]),
    ("list items", "- a, b\n- see. Do it", ["a, b.", "see.", "Do it."]),
]


@pytest.mark.parametrize(
    ("answer", "expected"), [c[1:] for c in SENTENCES], ids=[c[0] for c in SENTENCES]
)
def test_sentences(answer: str, expected: list[str]) -> None:
    assert sentences(answer, "en") == expected


LANGUAGES = [
    ("ja", "```\nx\n```", "コードはチャットにあります。"),
    ("de", "```\nx\n```", "Der Code steht im Chat."),
    ("pt-BR", "See https://x.y now", "See o link no chat now."),
    ("fr_FR", "| a |\n|---|", "Le tableau est dans la conversation."),
    ("xx", "```\nx\n```", EN.code),
    (
        None,
        "以下のコードを実行してください。\n```\nx\n```",
        "以下のコードを実行してください。コードはチャットにあります。",
    ),
    (None, "Вот код:\n```\nx\n```", "Вот код: Код в чате."),
    (None, "Here is the code:\n```\nx = '日本'\n```", f"Here is the code: {EN.code}"),
]


@pytest.mark.parametrize(
    ("language", "answer", "expected"), LANGUAGES, ids=[str(c[0]) for c in LANGUAGES]
)
def test_pointers_in_the_answers_language(language: str | None, answer: str, expected: str) -> None:
    assert speakable(answer, language) == expected


@pytest.mark.parametrize("language", sorted(PHRASES))
def test_every_language_has_all_phrases(language: str) -> None:
    phrases = phrases_for(language)
    said = (phrases.code, phrases.table, phrases.rest, phrases.answer, phrases.formula)
    for sentence in said:
        assert sentence[-1] in ".。।", sentence
        assert speakable(sentence, language) == sentence
    for noun in (phrases.code_inline, phrases.link, phrases.formula_inline):
        assert noun and noun[-1] not in ".。।" and not re.search(r"[*#`<>|]", noun)
    assert len(set(said)) == 5


def test_every_language_with_a_voice_has_its_phrases() -> None:
    # A Ukrainian or Swedish answer was voiced in its language with English pointers.
    assert set(DEFAULT_VOICES) <= set(PHRASES)


GUESSES = [
    ("english", "Hello there", "en"),
    ("chinese", "你好世界", "zh"),
    ("japanese", "これは日本語です", "ja"),
    ("korean", "안녕하세요", "ko"),
    ("russian", "Привет, мир", "ru"),
    ("arabic", "مرحبا بالعالم", "ar"),
    ("hindi", "नमस्ते दुनिया", "hi"),
    ("empty", "", "en"),
    # Japanese mixes kana into Han text: one kana in ten Han characters is Japanese, in eleven
    # it is a Chinese text quoting a name.
    ("one kana in ten han", "の" + "漢" * 10, "ja"),
    ("one kana in eleven han", "の" + "漢" * 11, "zh"),
    # A script wins with a fifth of the letters; digits, spaces and marks are no letters.
    ("a fifth cyrillic", "Привет " + "a" * 24, "ru"),
    ("under a fifth cyrillic", "Привет " + "a" * 25, "en"),
    ("digits are no letters", "Привет " + "1" * 40 + " .,!?" * 10, "ru"),
    ("hangul over han", "漢字 한국어 문장", "ko"),
    ("cyrillic over latin", "Это test", "ru"),
    ("a letter without a name", "\U00017000 is Tangut", "en"),  # unicodedata names no Tangut
]


@pytest.mark.parametrize(
    ("text", "language"), [c[1:] for c in GUESSES], ids=[c[0] for c in GUESSES]
)
def test_guess_language_from_script(text: str, language: str) -> None:
    assert guess_language(text) == language


ESTIMATES = [
    ("empty", "", 0.0),
    ("five words", "one two three four five", 2.0),
    ("sentence pause", "Hello.", 0.7),
    ("long word", "internationalization", 1.333),
    ("digits", "2024", 1.6),
    ("chinese", "你好世界", 0.8),
    ("japanese stop", "こんにちは。", 1.3),
    ("korean", "안녕하세요", 1.25),
    ("thai marks not counted", "สวัสดี", 0.4),
    ("decimal has no pause", "3.14 e.g.", 1.9),
    # Each is read as a word: "plus", "equals", "percent", "dollars", "per", "degrees".
    ("symbols said as words", "2 + 2 = 4, 50% $5 km/h 20°", 6.0),
    ("c plus plus", "C++", 1.2),
]


@pytest.mark.parametrize(
    ("text", "seconds"), [c[1:] for c in ESTIMATES], ids=[c[0] for c in ESTIMATES]
)
def test_estimate_seconds(text: str, seconds: float) -> None:
    assert estimate_seconds(text) == seconds  # rounded to the millisecond


# Where the scripts without spaces (Thai, Lao, Myanmar, Khmer: 0.1 s a letter) and Hangul
# (0.25 s a syllable) begin and end; just outside, a letter of another script is a word (0.4 s)
# and anything else is silent.
SCRIPT_EDGES = [
    (0x0DFF, 0.0),
    (0x0E00, 0.1),
    (0x0E01, 0.1),
    (0x0EFF, 0.1),
    (0x0F00, 0.4),
    (0x0FFF, 0.0),
    (0x1000, 0.1),
    (0x109F, 0.1),
    (0x10A0, 0.4),
    (0x177F, 0.0),
    (0x1780, 0.1),
    (0x17FF, 0.1),
    (0x1800, 0.0),
    (0xABFF, 0.0),
    (0xAC00, 0.25),
    (0xD7A3, 0.25),
    (0xD7A4, 0.0),
]


@pytest.mark.parametrize(
    ("code", "seconds"), SCRIPT_EDGES, ids=[f"{c:04X}" for c, _ in SCRIPT_EDGES]
)
def test_estimate_per_script_ends_at_its_block(code: int, seconds: float) -> None:
    assert estimate_seconds(chr(code)) == seconds


def test_estimate_adds_up_over_sentences() -> None:
    parts = sentences(LONG_ANSWER, "en")[:40]
    total = sum(estimate_seconds(part) for part in parts)
    assert estimate_seconds(" ".join(parts)) == pytest.approx(total, abs=0.05)


def _long_answer() -> str:
    section = (
        "## Step {n}\n\nThis part explains **step {n}** in detail, with care. "
        "It is written the way a model writes, e.g. with lists and code.\n\n"
        "- First point of step {n}, see https://example.com/{n}.\n"
        "- Second point with `inline_code` and a [link](https://x.y/{n}).\n\n"
        "```python\nprint({n})\n```\n\n"
    )
    text = ""
    n = 0
    while len(text) < 16_000:
        n += 1
        text += section.format(n=n)
    return text


LONG_ANSWER = _long_answer()
LONG_SENTENCE = "This sentence goes on" + ", and on and on" * 140 + " until it stops."
LONG_WORDS = "word " * 400 + "end."
LONG_CHINESE = "很" * 2000 + "。"

CAPPED = [
    ("16000 characters", LONG_ANSWER, 30.0, "en", EN.rest),
    ("2000 character sentence", LONG_SENTENCE, 20.0, "en", EN.rest),
    ("one sentence without commas", LONG_WORDS, 10.0, "en", EN.rest),
    ("chinese without spaces", LONG_CHINESE, 10.0, "zh", PHRASES["zh"].rest),
    ("spanish", LONG_ANSWER, 15.0, "es", PHRASES["es"].rest),
]


@pytest.mark.parametrize(
    ("answer", "cap", "language", "rest"), [c[1:] for c in CAPPED], ids=[c[0] for c in CAPPED]
)
def test_long_answers_are_capped(answer: str, cap: float, language: str, rest: str) -> None:
    assert len(answer) >= 2000
    script = spoken_script(answer, cap, language)
    assert script.truncated and script.seconds <= cap
    assert script.seconds == estimate_seconds(script.text)
    assert script.seconds > cap * 0.6  # the cap is used, not wasted
    assert script.text.endswith(rest)
    spoken = script.text[: -len(rest)].strip()
    assert spoken[-1] in ".。" and not re.search(r"[*#`<>|]|https?", spoken)


def test_cut_at_a_sentence_end() -> None:
    script = spoken_script(LONG_ANSWER, 30.0, "en")
    spoken = script.text[: -len(EN.rest)].strip()
    every = sentences(LONG_ANSWER, "en")
    assert spoken in [" ".join(every[:end]) for end in range(1, len(every) + 1)]


def test_a_cut_never_ends_on_a_heading() -> None:
    # "... and the web. 1. Installation. The rest is in the chat." announced what never came.
    intro = "Python is great for many things and people use it in data science and the web."
    answer = f"{intro}\n\n## 1. Installation\n\nDownload the installer and run it as it is."
    for cap in (10.0, 11.5, 12.5):  # the heading fits from 11.3 s, the whole answer at 12.8 s
        assert spoken_script(answer, cap, "en").text == f"{intro} {EN.rest}", cap
    title_only = spoken_script("# A title\n\n" + "word " * 60, 10.0, "en")
    assert title_only.text.startswith("word word") and title_only.text.endswith(EN.rest)


def test_a_cut_taken_back_for_the_rounding_of_its_sum_does_not_end_on_a_heading() -> None:
    answer = (
        "# Market day\n\nHere is the plan for today. First we go to the market.\n\n## Dinner\n\n"
        "Then we cook a large dinner for all of our friends and family.\n\n## Afterwards\n\n"
        "After that we wash up."
    )
    parts = sentences(answer, "en")
    cap = sum(estimate_seconds(part) for part in parts[:5]) + estimate_seconds(EN.rest)
    assert estimate_seconds(" ".join([*parts[:5], EN.rest])) > cap  # the sum rounds down
    assert spoken_script(answer, cap, "en").text == " ".join([*parts[:3], EN.rest])


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Wir treffen uns am 3. Mai. Dann", ["Wir treffen uns am 3. Mai.", "Dann."]),
        ("Im 19. Jahrhundert. Ende", ["Im 19. Jahrhundert.", "Ende."]),
        ("Das war 2024. Dann kam", ["Das war 2024.", "Dann kam."]),
    ],
    ids=["ordinal", "two digits", "a year ends a sentence"],
)
def test_an_ordinal_does_not_end_a_sentence(answer: str, expected: list[str]) -> None:
    # Cut or said live at "am 3.", the listener heard "on the third." and then "May".
    assert sentences(answer, "de") == expected


def test_a_long_first_sentence_is_cut_at_a_clause() -> None:
    text = spoken_script(LONG_SENTENCE, 20.0, "en").text
    assert text.startswith("This sentence goes on, and on and on") and text.count(".") == 2
    assert text.endswith(f"and on and on. {EN.rest}")


SHORT = [
    (
        "fits",
        "Hello there. How are you?",
        60.0,
        SpokenScript("Hello there. How are you?", 2.6, False),
    ),
    (
        "two of three sentences",
        "One two three. Four five six. Seven eight nine ten eleven twelve thirteen fourteen.",
        5.8,
        SpokenScript(f"One two three. Four five six. {EN.rest}", 5.7, True),
    ),
    (
        "exactly the cap",
        "Hello there. How are you?",
        2.6,
        SpokenScript("Hello there. How are you?", 2.6, False),
    ),
    # The rest phrase takes 2.7 s: 3.0 s are left for 1.5 s sentences, exactly two of them.
    (
        "two sentences fill the budget exactly",
        "One two three. Four five six. Seven eight nine ten eleven twelve thirteen fourteen.",
        5.7,
        SpokenScript(f"One two three. Four five six. {EN.rest}", 5.7, True),
    ),
    (
        "one sentence fills the budget exactly",
        "One two three. Four five six. Seven eight nine ten eleven twelve thirteen fourteen.",
        4.2,
        SpokenScript(f"One two three. {EN.rest}", 4.2, True),
    ),
    (
        "only code",
        "```\nrm -rf /\n```",
        60.0,
        SpokenScript(EN.code, estimate_seconds(EN.code), False),
    ),
    ("only emoji", "🎉🔥", 60.0, SpokenScript(EN.answer, estimate_seconds(EN.answer), False)),
    ("empty", "", 60.0, SpokenScript("", 0.0, False)),
    ("whitespace", " \n ", 60.0, SpokenScript("", 0.0, False)),
    (
        "cap below the rest phrase",
        "Hello world. More words.",
        0.5,
        SpokenScript(EN.rest, estimate_seconds(EN.rest), True),
    ),
]


@pytest.mark.parametrize(
    ("answer", "cap", "expected"), [c[1:] for c in SHORT], ids=[c[0] for c in SHORT]
)
def test_spoken_script(answer: str, cap: float, expected: SpokenScript) -> None:
    assert spoken_script(answer, cap, "en") == expected


STREAMED = [
    (
        "a sentence waits for the next word",
        ["Hello wor", "ld. How", " are you?"],
        [[], [], ["Hello world."]],
        ["How are you?"],
    ),
    (
        "decimal",
        ["Pi is 3.", "14 exactly. Next", " one"],
        [[], [], ["Pi is 3.14 exactly."]],
        ["Next one."],
    ),
    (
        "abbreviation",
        ["Use e.g. this. And", " Dr. Who. X"],
        [[], ["Use e.g. this."]],
        ["And Dr. Who.", "X."],
    ),
    (
        "url",
        ["See https://a.b/c.d", "/e. Then", " more"],
        [[], [], ["See the link in the chat."]],
        ["Then more."],
    ),
    ("paragraph break", ["No full stop here\n", "\nNext"], [[], ["No full stop here."]], ["Next."]),
    ("cjk", ["你好。世", "界！好"], [[], ["你好。"]], ["世界！", "好。"]),
    (
        "open fence",
        ["Intro. Next\n```\na. B. c.\n", "more. Code.\n", "```\nAfter. More"],
        [["Intro.", "Next."], [], [EN.code]],
        ["After.", "More."],
    ),
    (
        "inline code not closed",
        ["Use `x. Y", " z` now. Next", " one"],
        [[], [], ["Use the code in the chat now."]],
        ["Next one."],
    ),
    (
        "table header",
        ["Hi.\n| Name. | Age. |\n", "|---|---|\n| a | b |\n\nAfter. X"],
        [[], ["Hi.", EN.table]],
        ["After.", "X."],
    ),
    ("crlf across deltas", ["Line one\r", "\n\r\nNext"], [[], ["Line one."]], ["Next."]),
]


@pytest.mark.parametrize(
    ("deltas", "expected", "rest"), [c[1:] for c in STREAMED], ids=[c[0] for c in STREAMED]
)
def test_sentence_stream(deltas: list[str], expected: list[list[str]], rest: list[str]) -> None:
    stream = SentenceStream("en")
    assert [stream.feed(delta) for delta in deltas] == expected
    assert stream.flush() == rest
    assert stream.flush() == []


STREAM_INPUTS = [
    *AWKWARD,
    "Roots: \\(x = \\frac{-b}{2a}\\). Then $x^2$ holds. Cost $5. Next $a = 1$. Done.",
    LONG_ANSWER[:1500],
    "Intro `a. B` c.\n# h\nText `x\n- item` two. Three.\n---x\n   \n  more\n\nEnd.",
    "| Name. | Age. |\n:--|--\n| a. B | c |\nNot. Table.",
]


@pytest.mark.parametrize("answer", STREAM_INPUTS, ids=range(len(STREAM_INPUTS)))
def test_stream_agrees_with_spoken_script(answer: str) -> None:
    expected = sentences(answer, "en")
    stream = SentenceStream("en")
    for size in (1, 2, 3, 7, 40):
        out: list[str] = []
        for start in range(0, len(answer), size):
            out += stream.feed(answer[start : start + size])
        assert out + stream.flush() == expected, size


def test_stream_of_a_long_answer_is_cheap() -> None:
    stream = SentenceStream("en")
    out: list[str] = []
    for start in range(0, len(LONG_ANSWER), 8):  # about one LLM token a delta
        out += stream.feed(LONG_ANSWER[start : start + 8])
    assert out + stream.flush() == sentences(LONG_ANSWER, "en")


def test_stream_guesses_the_language_once() -> None:
    stream = SentenceStream()
    out = stream.feed("これはテストです。次は")
    out += stream.feed("コードです。\n```\nx\n```\n")
    assert out + stream.flush() == ["これはテストです。", "次はコードです。", PHRASES["ja"].code]


PIECES = [
    *("Hello", "world", ". ", "! ", "? ", "\n", "\n\n", "- ", "1. ", "# ", "```", "~~~", "`"),
    *("``", "|", "---", "> ", "    ", "*", "**", "_", "[a](http://x.y)", "https://a.b/c"),
    *("<b>", "</b>", "<", ">", "&amp;", "e.g.", "3.14", "Dr.", "🎉", "👨‍👩‍👧", "你好。", "é"),
    *(" ", "\\*", "\\", "(", ")", "[", "]", ":", "x", "Y", "\t", "\r\n", "<!--", "-->"),
    *("=", "===", "![i m](u)", "&eacute;t", "1️⃣", "->"),
]


def test_stream_agrees_on_random_markdown() -> None:
    rng = random.Random(7)  # fixed: the same 40 answers every run
    for _ in range(40):
        answer = "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 40)))
        expected = sentences(answer, "en")
        for size in (1, 3):
            stream = SentenceStream("en")
            out: list[str] = []
            for start in range(0, len(answer), size):
                out += stream.feed(answer[start : start + size])
            assert out + stream.flush() == expected, (answer, size)


FORMULA_PIECES = [
    *PIECES,
    *("$", "$$", "\\[", "\\]", "\\(", "\\)", "^", "—", " – ", "[1]", "print()", " >= "),
    *("!=", "x^2", "\\frac{a}{b}", "$x$", "$5 ", "= ", ":)", " :-(", "<3", ";D"),
]


def test_stream_agrees_on_random_formulas() -> None:
    # A formula is only replaced once it closes; until then the stream must hold it back.
    rng = random.Random(22)  # fixed: the same 60 answers every run
    for _ in range(60):
        answer = "".join(rng.choice(FORMULA_PIECES) for _ in range(rng.randint(1, 40)))
        expected = sentences(answer, "en")
        stream = SentenceStream("en")
        out: list[str] = []
        for char in answer:
            out += stream.feed(char)
        assert out + stream.flush() == expected, answer


# The ends of every range `is_cjk` counts (kana, Han extension A, unified Han, compatibility
# ideographs, half-width katakana, the supplementary planes of Han) and the code points just
# outside them: a CJK letter takes "。" and no space before the next CJK sentence.
CJK_EDGES = [
    (0x3040, True),
    (0x303F, False),
    (0x30FF, True),
    (0x3100, False),
    (0x3400, True),
    (0x33FF, False),
    (0x4DBF, True),
    (0x4DC0, False),
    (0x4E00, True),
    (0x9FFF, True),
    (0xA000, False),
    (0xF900, True),
    (0xF8FF, False),
    (0xFAFF, True),
    (0xFB00, False),
    (0xFF66, True),
    (0xFF65, False),
    (0xFF9F, True),
    (0xFFA0, False),
    (0x20000, True),
    (0x1FFFF, False),
    (0x3FFFF, True),
    (0x40000, False),
]


@pytest.mark.parametrize(("code", "cjk"), CJK_EDGES, ids=[f"{c:X}" for c, _ in CJK_EDGES])
def test_cjk_ranges_end_where_they_should(code: int, cjk: bool) -> None:
    assert is_cjk(chr(code)) is cjk
    assert with_full_stop(f"a{chr(code)}") == f"a{chr(code)}" + ("。" if cjk else ".")


BARE_URLS = [
    ("balanced parentheses", "Read https://x.y/Foo_(bar) now.", "Read the link in the chat now."),
    (
        "closing parenthesis",
        "Read (https://x.y/Foo_(bar)) now.",
        "Read (the link in the chat) now.",
    ),
    ("trailing marks", "At https://x.y/a?!", "At the link in the chat?!"),
    ("closing quote", "I'd say 'open https://x.y/a'", "I'd say 'open the link in the chat'."),
    ("mailto", "Write mailto:a@b.c, please", "Write the link in the chat, please."),
    ("curly closing quote", "Es „https://x.de“ gut", "Es „the link in the chat“ gut."),
]


QUOTES = [
    (
        "url after an opening quote",
        'He said "https://x.y is good".',
        'He said "the link in the chat is good".',
    ),
    ("quoted url", '"https://a.b/c" works', '"the link in the chat" works.'),
    (
        "quoted autolinks",
        'Read "<https://x.y>" and "[https://a.b](https://a.b)".',
        'Read "the link in the chat" and "the link in the chat".',
    ),
    ("curly quotes", "See “https://x.y” now", "See “the link in the chat” now."),
    ("spaces inside quotes", 'He said " hi " to me', 'He said "hi" to me.'),
    ("two quotations", 'It is "quoted" "twice" here', 'It is "quoted" "twice" here.'),
    ("a lone quote", 'a " b', 'a " b.'),
    ("inches", 'A 5" screen and a 6" phone', 'A 5" screen and a 6" phone.'),
]


@pytest.mark.parametrize(
    ("answer", "expected"), [c[1:] for c in QUOTES], ids=[c[0] for c in QUOTES]
)
def test_a_quotation_has_no_space_inside_its_marks(answer: str, expected: str) -> None:
    assert speakable(answer, "en") == expected


@pytest.mark.parametrize(
    ("answer", "expected"), [c[1:] for c in BARE_URLS], ids=[c[0] for c in BARE_URLS]
)
def test_a_bare_urls_trailing_punctuation_is_kept(answer: str, expected: str) -> None:
    assert speakable(answer, "en") == expected


ANIMALS = ("Ant bee cat dog elk fox gnu hen ibis jay koi " * 3).strip() + "."


# A first sentence too long for the cap is cut after the last word that fits (each word here
# 0.4 s, the full stop 0.3 s, the rest phrase 2.7 s; the caps leave 0.05 s over).
@pytest.mark.parametrize("words", range(13), ids=[f"{n} words" for n in range(13)])
def test_a_long_sentence_keeps_the_words_that_fit(words: int) -> None:
    cap = round(0.4 * words + 3.05, 3)
    kept = " ".join(ANIMALS.split()[:words])
    expected = f"{kept}. {EN.rest}" if words else EN.rest
    assert spoken_script(ANIMALS, cap, "en") == SpokenScript(
        expected, estimate_seconds(expected), True
    )
    assert estimate_seconds(expected) == (round(cap - 0.05, 3) if words else 2.7)


CUTS = [
    # "Ant bee cat." fits the 1.5 s left to the millisecond.
    ("word cut fits exactly", ANIMALS, 4.2, "en", f"Ant bee cat. {EN.rest}"),
    # The clause ends at 8, the fitting words at 16: a clause keeping half is preferred.
    (
        "clause keeps half",
        "Ant bee, cat dog elk fox gnu hen ibis jay koi ant bee cat dog elk fox gnu hen ibis.",
        4.65,
        "en",
        f"Ant bee. {EN.rest}",
    ),
    (
        "clause keeps less than half",
        "Ant bee, cat dog elk fox gnu hen ibis jay koi ant bee cat dog elk fox gnu hen ibis.",
        5.05,
        "en",
        f"Ant bee, cat dog elk. {EN.rest}",
    ),
    # Without spaces the clause is the only boundary; then the text is cut between characters.
    ("chinese clause", "你好你好，" + "很" * 100 + "。", 3.4, "zh", "你好你好。其余内容在聊天里。"),
    ("one character fits", "很" * 50 + "。", 2.4, "zh", "很。其余内容在聊天里。"),
    ("four characters fit", "很" * 50 + "。", 3.0, "zh", "很很很很。其余内容在聊天里。"),
    ("no character fits", "很" * 50 + "。", 2.3, "zh", "其余内容在聊天里。"),
]


@pytest.mark.parametrize(
    ("answer", "cap", "language", "text"), [c[1:] for c in CUTS], ids=[c[0] for c in CUTS]
)
def test_a_long_first_sentence_is_cut_at_the_best_boundary(
    answer: str, cap: float, language: str, text: str
) -> None:
    assert spoken_script(answer, cap, language) == SpokenScript(text, estimate_seconds(text), True)


def test_rounded_sentence_estimates_never_let_the_script_pass_the_cap() -> None:
    # "Elephant." is 0.8333 s, rounded to 0.833: three of them add up to 2.499 s and fit the
    # 2.4995 s left, but together they are 2.5 s, so the script would last 5.2 s of a 5.1995 s cap.
    answer = " ".join(["Elephant."] * 8)
    assert spoken_script(answer, 5.1995, "en") == SpokenScript(
        f"Elephant. Elephant. {EN.rest}", 4.367, True
    )
    assert spoken_script(answer, 5.2, "en") == SpokenScript(
        f"Elephant. Elephant. Elephant. {EN.rest}", 5.2, True
    )


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ('He said "hi."', 'He said "hi."'),
        ('He said "hi"', 'He said "hi".'),
        ("(see above)", "(see above)."),
        ("「你好。」", "「你好。」"),
        ("「你好」", "「你好」。"),
        ("Done!)", "Done!)"),
    ],
    ids=["mark inside a quote", "no mark", "closer", "cjk mark", "cjk", "bang"],
)
def test_a_full_stop_is_added_only_when_no_mark_ends_the_text_before_its_closers(
    text: str, said: str
) -> None:
    assert with_full_stop(text) == said
