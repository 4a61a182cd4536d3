"""What the avatar says of long answers: spoken seconds per video against `AVATAR_MAX_SECONDS`.

A set of long answers of the kinds models write (Markdown with lists, headings, code, tables and
links; a 16,499-character essay; Spanish, German, Chinese and Japanese) goes through the spoken
script (`core/avatar/script.py`) with the default cap of 45 s. Reported: the spoken seconds of
each video (estimated as D-ID will speak them, ≤ the cap), what reading the raw answer would have
cost (the seconds and D-ID credits before the spoken script existed), and the CPU time per script.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.common import Result
from core.avatar.script import estimate_seconds, spoken_script
from core.limits import credits_for

CAP = 45.0
PARAGRAPH = (
    "Good sleep helps memory, mood and focus, and most adults need seven to nine hours a night. "
    "Keep a regular schedule, even at weekends, and dim the lights an hour before bed. "
)
MARKDOWN = (
    "# A plan for better sleep\n\n"
    + "\n".join(f"{n}. **Step {n}**: {PARAGRAPH}" for n in range(1, 13))
    + "\n\n| hour | what |\n|---|---|\n| 22:00 | lights low |\n| 23:00 | sleep |\n\n"
    "```python\nfor night in range(7):\n    sleep(hours=8)\n```\n\n"
    "See [the NHS guide](https://www.nhs.uk/live-well/sleep-and-tiredness/) for more. 😴"
)
ANSWERS = {
    "markdown plan (lists, table, code, link)": MARKDOWN,
    "16,499-character essay": (PARAGRAPH * 200)[:16_499],
    "Spanish": "Dormir bien ayuda a la memoria y al ánimo. " * 60,
    "German": "Guter Schlaf hilft dem Gedächtnis und der Stimmung sehr. " * 60,
    "Chinese": "良好的睡眠有助于记忆和情绪。大多数成年人每晚需要七到九个小时。" * 40,
    "Japanese": "良い睡眠は記憶と気分に役立ちます。毎晩同じ時間に寝ましょう。" * 40,
    "code-heavy answer": "Here is how.\n\n```js\n" + "console.log(1);\n" * 400 + "```\nDone.",
}
LANGUAGES = {"Spanish": "es", "German": "de", "Chinese": "zh", "Japanese": "ja"}


async def run(workdir: Path) -> Result:
    result = Result("speech", fakes={"AVATAR_MAX_SECONDS": CAP})
    spoken: dict[str, float] = {}
    for name, answer in ANSWERS.items():
        language = LANGUAGES.get(name)
        started = time.perf_counter()
        script = spoken_script(answer, CAP, language)
        took = time.perf_counter() - started
        raw = estimate_seconds(answer)
        spoken[name] = script.seconds
        result.add(f"{name}: spoken", script.seconds, "s", f"≤ {CAP:.0f}", script.seconds <= CAP)
        result.numbers[name] = {
            "answer_chars": len(answer),
            "script_chars": len(script.text),
            "spoken_seconds": script.seconds,
            "truncated": script.truncated,
            "raw_answer_seconds": round(raw, 1),
            "credits_spoken": credits_for(round(script.seconds * 1000)),
            "credits_raw_answer": credits_for(round(raw * 1000)),
            "script_ms": round(took * 1000, 3),
        }
    worst = max(spoken.values())
    result.add("longest video of the set", worst, "s", f"≤ {CAP:.0f}", worst <= CAP)
    essay = result.numbers["16,499-character essay"]
    result.add("16,499-char essay read raw (before)", essay["raw_answer_seconds"], "s")
    slowest = max(n["script_ms"] for n in result.numbers.values() if isinstance(n, dict))
    result.add("slowest script (CPU)", slowest, "ms")
    return result
