"""The answer's known-issue sections: the fix(es) it leads with and the entries it lists
after them.

:func:`known_issue_section` writes each matched entry (:mod:`advisor.known_issues`) as a
block: its title under "Likely fix" or "Possibly related", the error text it matched, the
cause, the situation it applies to (and, when in doubt, when it does not), the steps, a
snippet for the first one, its docs and solved threads. :func:`also_check_section` lists
the next entries of the learned order one line each under "If that is not it, also
check". Both add their citations to the composer's list (``cites.add``). This module does
not match entries or decide how many are shown.
"""

from __future__ import annotations

import functools
import re

from advisor.codefence import code_block
from advisor.markdown_safe import inline_code, safe_prose

ALSO_STEP_CHARS = 160  # a listed entry's first step, cut at its first sentence
# Listed entries shown with their first step; the rest by title only. Held out
# (``bench.kb_also_fit``), three listed with one step hold the key points two listed with
# their steps do (0.431 of training posts') and name the labelled entry more often
# (0.755 -> 0.774), in fewer words. RESULTS, forty-third pass.
ALSO_STEPS = 1


# a sentence ends at . ! or ? before a space and a capital, digit, quote or bracket, but
# not after "e.g.", "i.e.", "etc." or "vs." ("train the model (e.g. with Trainer)")
_SENTENCE_END = re.compile(r"(?<=[.!?])(?<!e\.g\.)(?<!i\.e\.)(?<!etc\.)(?<!vs\.)\s+"
                           r"(?=[A-Z0-9`\"'(\[])")


# an entry's text may point to other entries by their ids ("(see cuda-oom-during-inference)",
# "(push-403-read-only-token)"): notes for the knowledge base's editors, not for readers.
# "see <id>" goes whatever the id; a bare "(<id>)" only when every id in it is an entry's
# file name, so "(pay-as-you-go)" stays.
_ID = r"[a-z0-9]+(?:-[a-z0-9]+){2,}"
_IDS = rf"{_ID}(?:\s*(?:/|,|;|or|and)\s*{_ID})*"
_SEE_REF = re.compile(rf"\s*\(see {_IDS}\)|,?\s*\bsee {_IDS}")
_BARE_REF = re.compile(rf"\s*\((?:e\.g\. )?{_IDS}\)")


@functools.lru_cache(maxsize=1)
def _entry_ids() -> frozenset[str]:
    from advisor.known_issues import KNOWN_ISSUES_DIR

    return frozenset(p.stem for p in KNOWN_ISSUES_DIR.glob("*.yaml"))


def reader_text(text: str) -> str:
    """``text`` without its references to other entries' ids."""
    text = _SEE_REF.sub("", text)
    ids = _entry_ids()
    return _BARE_REF.sub(lambda m: "" if all(x in ids for x in re.findall(_ID, m.group(0)))
                         else m.group(0), text)


def _first_sentence(text: str, max_chars: int) -> str:
    head = _SENTENCE_END.split(text.strip(), maxsplit=1)[0]
    return safe_prose(head, max_chars)


def also_check_section(also, cites) -> str:
    """The entries next in the learned order, one line each: the title with the docs
    cited, the first :data:`ALSO_STEPS` of them also with the first sentence of their first
    step, for when the fix above is not the user's case."""
    if not also:
        return ""
    lines = ["### If that is not it, also check"]
    for i, m in enumerate(also):
        k = m.issue
        ref = f" [{cites.add('docs', k.id, k.docs, f'Docs: {k.title}')}]" if k.docs else ""
        if k.fix and i < ALSO_STEPS:
            step = _first_sentence(reader_text(k.fix[0]), ALSO_STEP_CHARS)
            lines.append(f"- **{safe_prose(k.title, 120)}**: {step}{ref}")
        else:
            lines.append(f"- {safe_prose(k.title, 120)}{ref}")
    return "\n".join(lines)


def known_issue_section(matches, cites) -> str:
    """The specific fix(es) the knowledge base holds for this question, first."""
    out = []
    for i, m in enumerate(matches):
        k = m.issue
        strong = getattr(m, "strong", True)
        loose = getattr(m, "loose", False)
        head = ("### Likely fix: " if i == 0 else "### Also possible: ") if strong else \
            "### Possibly related known issue (loose match): " if loose else \
            "### Possibly related known issue: "
        lines = [head + safe_prose(k.title, 120)]
        if m.how == "signature" and m.matched:
            shared = (", which also comes up with other problems"
                      if getattr(m, "ambiguous", False) else "")
            lines.append(f"Your text matches {inline_code(m.matched, 100)}{shared}.")
        lines.append(f"**Why:** {safe_prose(reader_text(k.cause), 500)}")
        if k.applies_when:
            lines.append(f"_Applies when {safe_prose(k.applies_when, 200)}._")
        if (getattr(m, "premise_doubt", False) or loose or getattr(m, "ambiguous", False)) \
                and k.not_when:  # the entry may not be this case: say when it is not
            lines.append(f"_Not your case if {safe_prose(reader_text(k.not_when), 200)}._")
        lines.append("**What to do:**\n" + "\n".join(
            f"{j}. {safe_prose(reader_text(step), 300)}" for j, step in enumerate(k.fix[:5], 1)))
        if k.snippet and i == 0 and not loose:  # no code for a loose match
            lines.append(code_block(k.snippet))
        refs = []
        if k.docs:
            n = cites.add("docs", k.id, k.docs, f"Docs: {k.title}")
            refs.append(f"[docs]({k.docs}) [{n}]")
        for url in k.threads[:1]:
            n = cites.add("known_issue", k.id, url, f"Solved thread: {k.title}")
            refs.append(f"[solved]({url}) [{n}]")
        like = getattr(m, "solved_url", "")
        if like and like not in k.threads[:1]:
            n = cites.add("known_issue", k.id, like, f"Solved thread like yours: {k.title}")
            refs.append(f"[a similar case]({like}) [{n}]")
        if refs:
            lines.append("See " + ", ".join(refs) + ".")
        out.append("\n\n".join(lines))
    return "\n\n".join(out)
