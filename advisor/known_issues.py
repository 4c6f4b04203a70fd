"""The known-issues knowledge base: matching a question to errors people have solved.

Entries are data (``prompts/known_issues/<id>.yaml``, one per file; the format is in
``prompts/known_issues/README.md``): signatures (regexes on error or output text), a
description in a user's words, the codebook category, the situation the fix applies to
and when it does not, cause, fix steps, a snippet, a docs link and public threads where
it was solved. :func:`load_known_issues` (:mod:`advisor.kb_entries`) reads and checks them.

:class:`KnownIssueMatcher` matches a question in three steps:

1. **signatures**: any entry whose regex occurs in the text (pasted errors are the most
   specific evidence there is); when several fire on one error line, the entry whose
   description the question reads closest to leads;
2. **semantic + lexical**: cosine similarity of the question's MiniLM vector with each
   entry's title + description, averaged with a TF-IDF cosine over the same texts; an
   entry's optional ``phrasings`` (other ways users ask about the same problem) are
   scored the same way, each on its own, and the entry keeps its best text's score; an
   entry counts when the blend passes :data:`MIN_SEMANTIC_SCORE` (chosen on the ``tune``
   half of ``eval/real_questions.jsonl``); an entry for a library the question names
   (the entry's ``libraries``, :func:`named_libraries`) gains :data:`LIBRARY_BOOST`;
   **solved posts** (real training posts whose accepted fix is an entry,
   ``eval/train_posts.jsonl`` rows with ``known_issue``) vote too: an entry gains
   :data:`SOLVED_WEIGHT` times how far its nearest solved post's cosine to the question
   passes :data:`SOLVED_MIN`, and the match names that post's thread when it is close
   (:data:`SOLVED_LINK_MIN`);
3. **premise check**: an entry whose ``not_when`` situation is closer to the question
   than its ``applies_when`` situation is dropped when a clean match exists; otherwise it
   is kept, marked ``premise_doubt``: the answer shows it as possibly related, with its
   "not your case if" line, and it does not steer the category. With no match at all,
   the best entry over :data:`FALLBACK_SCORE` stands in as a ``loose`` match, hedged the
   same way. (Withholding a doubtful entry always, as before, dropped the right fix for 2 of the 23 `tune` questions with a known issue:
   the check compares two short situations with one cosine each.) A signature match is
   checked only when another entry matches too: a lone exact error line stays the fix;
4. **learned order**: steps 2-3 decide how many semantic slots the answer opens; which
   entries fill them is the learned order of :mod:`advisor.kb_rank` (a linear score over
   the blend, its parts, the solved posts' vote, the premise check and the rank, fitted
   on the labelled non-``test`` questions), among the entries over :data:`FALLBACK_SCORE`
   that no shown signature matched. An entry under :data:`MIN_SEMANTIC_SCORE` fills its
   slot as a ``loose`` match, and one whose premise is in doubt keeps that mark. With one
   semantic slot and no signature, a second opens when the first two learned scores are
   within :data:`advisor.kb_rank.SECOND_WITHIN`. A signature match is called the likely fix
   (:attr:`KnownIssueMatch.strong`) unless its record on the training posts says the error
   line comes mostly with other problems (``ambiguous``,
   :func:`advisor.kb_rank.signature_likely`); one by meaning only when its learned confidence
   (:func:`advisor.kb_rank.confidence`) is :func:`advisor.kb_rank.likely` (off as shipped);
5. **also check**: :meth:`KnownIssueMatcher.match_with_alternatives` adds the next
   :data:`ALSO_CHECK` entries in that order (over :data:`FALLBACK_SCORE`), none with no match.

The entries' vectors and the solved posts are stored in the index by
:mod:`advisor.kb_store`. The composer (:mod:`advisor.compose`) leads the answer with the matches; with none it
falls back to the category guidance. This module does not write answer prose.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from advisor.kb_entries import KNOWN_ISSUES_DIR as KNOWN_ISSUES_DIR  # re-exported: the entries
from advisor.kb_entries import KnownIssue as KnownIssue
from advisor.kb_entries import load_known_issues as load_known_issues
from advisor.kb_rank import RANK_WEIGHTS, SECOND_WITHIN, learned_reading, likely, signature_likely
from advisor.kb_store import SolvedPost, text_key

log = logging.getLogger(__name__)

MIN_SEMANTIC_SCORE = 0.30  # blend of dense and TF-IDF cosine, tuned on `tune`: below it the best
# entry is rarely right; up to STRONG_SEMANTIC_SCORE the answer says "possibly related"
STRONG_SEMANTIC_SCORE = 0.45
# With no entry over MIN_SEMANTIC_SCORE, the best one over this is still shown, as a loose
# match ("possibly related"; it does not steer the category): the `tune` answers with no
# known issue covered 0.24 of their key points, 0.56 with the best entry under the
# threshold added (chosen on `tune` and the t8 posts, see bench/RESULTS.md)
FALLBACK_SCORE = 0.24
SEMANTIC_MARGIN = 0.04  # a second semantic match must be this close to the first
W_DENSE = 0.4  # share of the dense cosine in the semantic score (tune: 0.4-0.6 alike)
# An entry about a library the question names ("bitsandbytes" on Windows) is more likely
# its fix: chosen on the 334 labelled non-`test` questions (labelled entry first 62 -> 65
# of 122, shown 71 -> 77; questions without an entry shown one 171 -> 182 of 212).
LIBRARY_BOOST = 0.04
# Solved posts' vote, chosen among weights 0.3-1.0 and floors 0.5-0.7 by 5-fold CV over the labelled
# training posts (folds by source URL; `bench.kb_vote_cv`), then read once on `tune` (RESULTS, 21st pass)
SOLVED_WEIGHT = 0.5
SOLVED_MIN = 0.5
# The answer links the nearest solved post only from this cosine: in 5-fold CV over the
# 1,051 training posts with key points, the nearest other post holds one of a post's key
# points for 0.10 of posts under cosine 0.65 and 0.28-0.31 over it (below, the vote still
# counts, but the post is too loosely alike to show as "like yours")
SOLVED_LINK_MIN = 0.65
MAX_MATCHES = 2  # answers lead with at most two specific fixes
# Entries listed after them ("also check"); held out (``bench.kb_also_fit``) 0-4 show the labelled
# entry to 0.651 / 0.715 / 0.755 / 0.774 / 0.791 of training posts; listed by title, only the first
# with its step (advisor.fix_sections), 3 keep `tune` at 321 words (4: 331). RESULTS, 43rd pass.
ALSO_CHECK = 3
ENCODE_BATCH = 8  # texts per embedding batch at load (memory, see _encode)
MAX_SIGNATURE_TEXT = 20_000  # regexes run on at most this much text (bounded time)
_WORD_TAIL = re.compile(r"\w*")


@dataclass(frozen=True)
class QuestionReading:
    """What :meth:`KnownIssueMatcher.read` measured of one question: the blended
    ``scores`` (``(n,)``, one per entry) and the parts they were made of, which the
    learned order (:mod:`advisor.kb_rank`) reads again instead of measuring twice."""

    text: str
    scores: np.ndarray  # (n,) blended meaning score, vote and library boost included
    q_tf: Any  # (1, vocabulary) sparse TF-IDF row of the question
    tf: np.ndarray  # (n,) TF-IDF cosine with each entry's title + description
    tf_phr: np.ndarray | None  # (p,) TF-IDF cosine with each phrasing
    dense: np.ndarray | None = None  # (n,) MiniLM cosine; None without vectors
    dense_phr: np.ndarray | None = None  # (p,)
    sims: np.ndarray | None = None  # (m,) cosine with each solved post
    near: np.ndarray | None = None  # (n,) cosine of each entry's nearest solved post
    who: np.ndarray | None = None  # (n,) that post's position (-1 without one)
    named: frozenset[str] = frozenset()  # libraries the question names


@dataclass(frozen=True)
class KnownIssueMatch:
    issue: KnownIssue
    score: float  # 1.0 for a signature match
    how: str  # "signature" | "semantic"
    matched: str = ""  # the text a signature matched
    premise_doubt: bool = False  # the question reads closer to the entry's not_when
    semantic: float = 0.0  # the entry's blended meaning score (signature matches too)
    margin: float = 0.0  # ``semantic`` minus the best score of any other entry
    loose: bool = False  # under MIN_SEMANTIC_SCORE, shown because nothing else matched
    solved_url: str = ""  # the nearest solved post labelled with this entry, if it voted
    confidence: float | None = None  # advisor.kb_rank.confidence, when the order was learned
    ambiguous: bool = False  # a signature that fires mostly on posts other fixes solved

    @property
    def strong(self) -> bool:
        """Called the likely fix: a signature match that is not :attr:`ambiguous`, or a
        match by meaning whose learned
        :attr:`confidence` is :func:`advisor.kb_rank.likely` (never, as shipped; without
        one, whose score reaches :data:`STRONG_SEMANTIC_SCORE`), that may steer
        (:attr:`steers`: premise not in doubt, not a loose match)."""
        if self.how == "signature":
            return self.steers and not self.ambiguous
        sure = (self.score >= STRONG_SEMANTIC_SCORE if self.confidence is None
                else likely(self.confidence))
        return self.steers and sure

    @property
    def steers(self) -> bool:
        """Whether the entry's category may steer the answer's: not when its premise is
        in doubt or it is only a loose match."""
        return not (self.premise_doubt or self.loose)


@functools.lru_cache(maxsize=4)
def _library_patterns(names: tuple[str, ...]) -> tuple[tuple[str, re.Pattern], ...]:
    """One word-bounded pattern per library name; ``-``, ``_`` and spaces alike."""
    out = []
    for name in names:
        parts = [re.escape(p) for p in re.split(r"[-_ ]+", name.lower()) if p]
        if parts:
            out.append((name, re.compile(r"(?<![\w.-])" + r"[-_ ]?".join(parts) + r"(?![\w-]|\.\w)")))
    return tuple(out)


def named_libraries(text: str, known: Sequence[str]) -> set[str]:
    """The library names from ``known`` (the knowledge base's ``libraries`` values) that
    ``text`` names."""
    low = (text or "").lower()
    return {name for name, rx in _library_patterns(tuple(sorted(set(known)))) if rx.search(low)}


class KnownIssueMatcher:
    """Matches text against the entries (see the module docstring).

    Args:
        issues: the entries.
        embedder: encodes texts to normalised vectors (the index's query embedder), or
            None for signatures + TF-IDF only.
        cache: ``{sha1(text): vector}`` computed at build time (:func:`load_vector_cache`);
            texts not in it (an entry edited since the build) are embedded here.
        solved: real posts solved by an entry (:func:`load_solved_posts` in the app,
            :func:`read_solved_posts` elsewhere); those of unknown entries, or with
            neither a cached vector nor a text, are left out. Used only with an embedder.
        signature_record: ``{entry id: (fired, right)}`` over the labelled training posts
            (:func:`advisor.kb_store.load_signature_record`): which signatures are
            ambiguous (:func:`advisor.kb_rank.signature_likely`).
    """

    def __init__(self, issues: Sequence[KnownIssue], embedder=None,
                 cache: dict[str, np.ndarray] | None = None,
                 solved: Sequence[SolvedPost] = (),
                 signature_record: dict[str, tuple[int, int]] | None = None):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.issues = list(issues)
        self._pos = {x.id: j for j, x in enumerate(self.issues)}  # id -> row
        # every library an entry names (bench.kb_fit looks for them in a question)
        self.libraries = tuple(sorted({x for i in self.issues for x in i.libraries}))
        self._by_library = {lib: np.array([j for j, i in enumerate(self.issues) if lib in i.libraries])
                             for lib in self.libraries}  # library -> rows of its entries
        self.embedder = embedder
        self._ambiguous = frozenset(k for k, (fired, right) in (signature_record or {}).items()
                                    if not signature_likely(fired, right))
        self.rank_weights = RANK_WEIGHTS  # None: the slots keep the entries meaning chose
        self.second_within = SECOND_WITHIN  # 0: never a second slot of its own
        texts = [i.match_text for i in self.issues]
        # phrasings are scored on their own and count for their entry (``_owner``); the
        # TF-IDF vocabulary is fitted on descriptions and phrasings together, so a
        # phrasing's own words count
        phrasings = [p for i in self.issues for p in i.phrasings]
        self._owner = np.array([j for j, i in enumerate(self.issues) for _ in i.phrasings],
                               dtype=np.int64)
        self._tfidf = TfidfVectorizer(stop_words="english", sublinear_tf=True,
                                      ngram_range=(1, 2), min_df=1)
        fitted = self._tfidf.fit_transform((texts + phrasings) or ["empty"])
        self._tf = fitted[:len(texts)] if texts else fitted
        self._tf_phr = fitted[len(texts):] if phrasings else None
        # each entry's own example and its cause + fix, in the same vocabulary: features
        # of the learned order (advisor.kb_rank), not of the blended score
        self._tf_example = self._tfidf.transform([i.example for i in self.issues] or [""])
        self._tf_fix = self._tfidf.transform([" ".join([i.cause, *i.fix]) for i in self.issues] or [""])
        self._vecs = self._phr_vecs = None
        self._solved_vecs: np.ndarray | None = None  # (m, dim), one row per solved post
        self._solved_rows = np.zeros(0, np.int64)  # the entry each solved post names
        self._solved_urls: list[str] = []
        self._applies = self._not = None
        self._cache = dict(cache or {})
        if embedder is not None and self.issues:
            self._vecs = self._encode(texts)  # (n, dim)
            if phrasings:
                self._phr_vecs = self._encode(phrasings)
            self._set_solved(solved)
            premised = [i for i, x in enumerate(self.issues) if x.not_when and x.applies_when]
            self._premised = premised
            if premised:
                self._applies = self._encode([self.issues[i].applies_when for i in premised])
                self._not = self._encode([self.issues[i].not_when for i in premised])

    def _set_solved(self, solved: Sequence[SolvedPost]) -> None:
        usable = [p for p in solved if p.entry in self._pos
                  and (p.vector_key in self._cache or p.text)]
        if not usable:
            return
        missing = [p.text for p in usable if p.vector_key not in self._cache]
        if missing:
            self._encode(missing)  # fills the cache under the texts' keys
        self._solved_vecs = np.stack([np.asarray(self._cache[p.vector_key], np.float32)
                                      for p in usable])
        self._solved_rows = np.array([self._pos[p.entry] for p in usable], np.int64)
        self._solved_urls = [p.url for p in usable]

    def _solved_vote(self, sims: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Per entry: the cosine of its nearest solved post (0 without one; ``sims`` are
        the question's cosines with every solved post) and that post's position (-1
        without one)."""
        best = np.zeros(len(self.issues), np.float32)
        who = np.full(len(self.issues), -1, np.int64)
        if sims is None:
            return best, who
        order = np.argsort(sims)  # ascending: the nearest post of an entry is written last
        best[self._solved_rows[order]] = np.maximum(sims[order], 0)
        who[self._solved_rows[order]] = order
        return best, who

    def _encode(self, texts: list[str]) -> np.ndarray:
        """Vectors of ``texts``: from the build-time cache, embedding only what it lacks."""
        missing = [t for t in texts if text_key(t) not in self._cache]
        if missing:
            # small batches: entries edited since the build are embedded in the serving
            # process, where a batch of 64 long texts peaks at ~1 GiB of activations
            vecs = self.embedder.encode(missing, batch_size=ENCODE_BATCH)
            for t, v in zip(missing, vecs, strict=True):
                self._cache[text_key(t)] = v
        return np.stack([np.asarray(self._cache[text_key(t)], np.float32) for t in texts])

    def by_id(self, issue_id: str) -> KnownIssue | None:
        return next((i for i in self.issues if i.id == issue_id), None)

    def signature_matches(self, text: str) -> list[KnownIssueMatch]:
        text = (text or "")[:MAX_SIGNATURE_TEXT]
        out = []
        for issue in self.issues:
            for rx in issue.signatures:
                m = rx.search(text)
                if m:  # shown to the end of the word it stops in ("hallucinat" -> "...ates")
                    end = m.end() + (len(_WORD_TAIL.match(text, m.end()).group(0))
                                     if text[m.end() - 1:m.end()].isalnum() else 0)
                    out.append(KnownIssueMatch(issue, 1.0, "signature", text[m.start():end][:120],
                                               ambiguous=issue.id in self._ambiguous))
                    break
        return out

    def semantic_scores(self, text: str, qvec: np.ndarray | None = None) -> np.ndarray:
        """``(n,)`` blended dense + TF-IDF cosine of ``text`` with every entry (the best
        of its description and its phrasings), plus the solved posts' vote and
        :data:`LIBRARY_BOOST` for the entries of a library the text names."""
        return self.read(text, qvec).scores

    def read(self, text: str, qvec: np.ndarray | None = None) -> QuestionReading:
        """:meth:`semantic_scores` and every part it was made of (the solved posts'
        reading among them, so :meth:`match` links the post without a second pass)."""
        dense = dense_phr = sims = near = who = None
        q_tf = self._tfidf.transform([text])
        tf = np.asarray((q_tf @ self._tf.T).todense()).ravel()
        tf_phr = (np.asarray((q_tf @ self._tf_phr.T).todense()).ravel()
                  if self._tf_phr is not None else None)
        if self._vecs is None:
            scores = tf
            phr = tf_phr
        else:
            if qvec is None:
                qvec = self.embedder.encode([text])[0]
            q = np.asarray(qvec, np.float32)
            dense = self._vecs @ q
            scores = W_DENSE * dense + (1 - W_DENSE) * tf
            if tf_phr is not None:
                dense_phr = self._phr_vecs @ q
            phr = W_DENSE * dense_phr + (1 - W_DENSE) * tf_phr if tf_phr is not None else None
        if phr is not None:
            scores = scores.copy()
            np.maximum.at(scores, self._owner, phr)
        if self._vecs is not None and self._solved_vecs is not None:
            sims = self._solved_vecs @ q
            near, who = self._solved_vote(sims)
            if SOLVED_WEIGHT:  # after the phrasings: it lifts the entry's best text
                scores = scores + SOLVED_WEIGHT * np.maximum(near - SOLVED_MIN, 0)
        named = named_libraries(text, self.libraries)
        if named and LIBRARY_BOOST:
            rows = np.unique(np.concatenate([self._by_library[lib] for lib in named]))
            scores = scores.copy()
            scores[rows] += LIBRARY_BOOST
        return QuestionReading(text, scores, q_tf, tf, tf_phr, dense, dense_phr, sims, near,
                               who, frozenset(named))

    def _premise_fails(self, j: int, qvec: np.ndarray | None) -> bool:
        if qvec is None or self._applies is None or j not in self._premised:
            return False
        k = self._premised.index(j)
        return float(self._not[k] @ qvec) > float(self._applies[k] @ qvec)

    def match(self, text: str, qvec: np.ndarray | None = None,
              k: int = MAX_MATCHES) -> list[KnownIssueMatch]:
        """Best matches first: signatures, then semantic ones above the threshold; with no
        clean match, those whose premise is in doubt (see the module docstring)."""
        return self.match_with_alternatives(text, qvec, k, also=0)[0]

    def match_with_alternatives(self, text: str, qvec: np.ndarray | None = None,
                                k: int = MAX_MATCHES, also: int = ALSO_CHECK,
                                ) -> tuple[list[KnownIssueMatch], list[KnownIssueMatch]]:
        """``(matches, alternatives)``: :meth:`match`'s matches and up to ``also`` more
        entries, next in the learned order (see the module docstring)."""
        if not self.issues:
            return [], []
        if self._vecs is not None and qvec is None:
            qvec = self.embedder.encode([text[:4000]])[0]
        seen = self.read(text[:4000], qvec)
        scores, near, who = seen.scores, seen.near, seen.who
        top2 = np.sort(scores)[-2:] if len(scores) > 1 else np.array([0.0, *scores])

        def reading(j: int) -> dict:  # the entry's meaning score and lead over the rest
            s = float(scores[j])
            other = float(top2[-2]) if s >= float(top2[-1]) else float(top2[-1])
            out = {"semantic": round(s, 4), "margin": round(s - other, 4)}
            if near is not None and near[j] >= max(SOLVED_MIN, SOLVED_LINK_MIN):  # one alike voted
                out["solved_url"] = self._solved_urls[int(who[j])]
            return out

        signed = self.signature_matches(text)
        out = [dataclasses.replace(m, **reading(self._pos[m.issue.id])) for m in signed]
        # several signatures can fire on one error line ("CUDA out of memory" while
        # training and while serving): the entry the question reads closest to leads
        out.sort(key=lambda m: -float(scores[self._pos[m.issue.id]]))
        if len(out) < k:
            taken = {m.issue.id for m in out}
            best = None
            for j in np.argsort(-scores):
                s = float(scores[j])
                if s < MIN_SEMANTIC_SCORE or len(out) >= k:
                    break
                if best is not None and s < best - SEMANTIC_MARGIN:
                    break
                issue = self.issues[j]
                if issue.id in taken:
                    continue
                best = s if best is None else best
                out.append(KnownIssueMatch(issue, round(s, 3), "semantic",
                                           premise_doubt=self._premise_fails(int(j), qvec),
                                           **reading(int(j))))
        if len(out) > 1:
            # an exact error line is strong evidence on its own, but when another entry
            # also matches, a signature entry whose premise the question contradicts
            # ("app must listen on 7860" for a managed AutoTrain Space) gives way
            out = [dataclasses.replace(m, premise_doubt=True)
                   if m.how == "signature" and self._premise_fails(self._pos[m.issue.id], qvec)
                   else m for m in out]
        if any(not m.premise_doubt for m in out):  # a doubtful one only stands in for none
            out = [m for m in out if not m.premise_doubt]
        if not out and len(scores) and FALLBACK_SCORE <= float(scores.max()):
            j = int(scores.argmax())  # under MIN_SEMANTIC_SCORE: a loose match
            out = [KnownIssueMatch(self.issues[j], round(float(scores[j]), 3), "semantic",
                                   premise_doubt=self._premise_fails(j, qvec), loose=True,
                                   **reading(j))]
        out = out[:k]
        semantic = sum(m.how == "semantic" for m in out)
        if (self.rank_weights is None or qvec is None or self._vecs is None
                or not semantic and (not also or not out)):
            return out, []
        # meaning opened these slots; the learned order (advisor.kb_rank) fills them
        out = [m for m in out if m.how != "semantic"]
        taken = {m.issue.id for m in out}
        order, learned, sure = learned_reading(self, seen, qvec, self.rank_weights,
                                               {self._pos[m.issue.id] for m in signed})
        ok = [(j, v, c) for j, v, c in zip(order, learned, sure, strict=True)
              if scores[j] >= FALLBACK_SCORE and self.issues[j].id not in taken]
        if (semantic == 1 and not out and k > 1 and len(ok) > 1
                and ok[0][1] - ok[1][1] < self.second_within):
            semantic = 2  # two entries the learned order can hardly tell apart
        made = [KnownIssueMatch(self.issues[j], round(float(scores[j]), 3), "semantic",
                                premise_doubt=self._premise_fails(j, qvec),
                                loose=float(scores[j]) < MIN_SEMANTIC_SCORE,
                                confidence=round(float(c), 3), **reading(j))
                for j, _, c in ok[:semantic + also]]
        return out + made[:semantic], made[semantic:]
