"""Learned order of known-issue matches: which entries fill the answer's fix slots.

:class:`advisor.known_issues.KnownIssueMatcher` decides *how many* entries an answer
shows by meaning (signatures, then the blended score against its thresholds, the premise
check, the loose fallback). This module decides *which* entries fill the slots that
meaning opened: every entry among the :data:`CANDIDATES` best by the blended score is
described by :data:`RANK_FEATURES` (the blend and each of its parts, the words of its
example and of its cause and fix, the solved posts' vote, the library the question names,
a signature, the premise check, its rank) and ordered by one linear score,
:data:`RANK_WEIGHTS`. With one slot opened and no signature, a second opens when the
first two learned scores are within :data:`SECOND_WITHIN`. Each filled entry also gets
a confidence (:func:`confidence`: how likely it holds the fix, from its features and its
learned lead over the others), which can decide whether the answer calls it the likely
fix (:data:`STRONG_CONFIDENCE`; no level is set as shipped); a signature match is called
the likely fix unless its signatures fired mostly on posts other fixes solved
(:func:`signature_likely`).

The weights are a logistic regression fitted on the real questions labelled with the
entry that holds their accepted fix, or with none (the training posts of
``eval/train_posts.jsonl`` and the ``tune`` half of ``eval/real_questions.jsonl``;
``test`` never), each read with its fold left out of the solved posts
(``python -m bench.kb_rank_fit``, which reports them held out and prints the weights);
the figures are in ``bench/RESULTS.md``, thirtieth pass; the confidence is a second
regression over the same questions' held-out orders (thirty-first pass). This module does
not match, threshold or write prose.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from advisor.known_issues import KnownIssueMatcher, QuestionReading

CANDIDATES = 20  # entries, best by the blended score, that the learned order may pick from
NEIGHBOURS = 10  # nearest solved posts whose entries are counted (the "solved votes")
RANK_FEATURES = (
    "score",  # the blended score the thresholds read (advisor.known_issues)
    "dense", "tfidf",  # title + description: MiniLM cosine, TF-IDF cosine
    "phrasing dense", "phrasing tfidf",  # the entry's best phrasing, each measure apart
    "example tfidf", "cause and fix tfidf",  # TF-IDF cosine with the entry's example and
    # with its cause + fix steps (the words of the error and of the remedy)
    "nearest solved",  # cosine of the entry's nearest solved post
    "solved votes", "solved count",  # summed cosine / count of the entry's posts among
    # the question's NEIGHBOURS nearest solved posts
    "library named", "signature", "premise doubt",
    "below best",  # score minus the best entry's score
    "log rank",  # log(1 + rank by score)
)
# A second entry fills a second slot when meaning opened one and no signature matched,
# and its learned score is within this of the first's (the answer's "Also possible").
# Held out (``python -m bench.kb_rank_fit``), 0.25 / 0.5 / 1.0 show the labelled entry
# for 0.625 / 0.632 / 0.641 of the training posts (0.616 without) and two entries to
# 0.29 / 0.35 / 0.46 of questions (0.24); on `tune`, 0.5 added 7 words to the median
# answer (337 -> 344, bar 350) and 0.25 one, so 0.25.
SECOND_WITHIN = 0.25
# Fitted by ``python -m bench.kb_rank_fit`` on the 2,548 non-``test`` questions labelled
# with an entry or with none (1,220 with an entry; 134 are ``tune``, 46 of those with an
# entry; refitted in the thirty-ninth pass, first fitted on 1,891 in the thirtieth); raw
# weights: the standardised fit divided by each feature's scale, no intercept (only the
# order counts). Held out on the 2,548, with SECOND_WITHIN: shown for 0.646 of the
# training posts with an entry (0.761 of the `tune` ones), first for 0.606 (0.739).
# At the first fit, held out (5 folds by source URL), the labelled entry was ranked first
# for 0.554 -> 0.593 of the 856 training posts with one (0.652 -> 0.761 of the 46 `tune`
# ones) and shown for 0.568 -> 0.616 (0.717 -> 0.761); without the example and
# cause-and-fix features, 0.581 first and 0.612 shown.
RANK_WEIGHTS = (
    -2.2522,  # score
    2.5078,  # dense
    2.2340,  # tfidf
    -0.6255,  # phrasing dense
    1.3388,  # phrasing tfidf
    1.4590,  # example tfidf
    4.6671,  # cause and fix tfidf
    1.3853,  # nearest solved
    0.0170,  # solved votes
    0.3196,  # solved count
    0.0623,  # library named
    1.5999,  # signature
    0.0708,  # premise doubt
    8.6786,  # below best
    -0.7334,  # log rank
)

# Whether a filled entry is called the likely fix (advisor.known_issues.KnownIssueMatch.
# strong; a signature match needs no confidence): a logistic regression over the entry's
# RANK_FEATURES, its learned score and its learned lead over the best other candidate,
# fitted by ``python -m bench.kb_rank_fit`` on the first entry the app shows by meaning
# to each labelled non-``test`` question (of 2,548; 1,891 before the thirty-ninth pass's
# refit) shown one, each read with held-out
# orders; it is right when that entry is the labelled one. Raw weights and intercept.
CONFIDENCE_FEATURES = (*RANK_FEATURES, "learned score", "learned lead")
CONFIDENCE_WEIGHTS = (
    0.9313,  # score
    3.6180,  # dense
    1.5588,  # tfidf
    0.2657,  # phrasing dense
    -0.2486,  # phrasing tfidf
    1.7387,  # example tfidf
    4.5094,  # cause and fix tfidf
    0.2545,  # nearest solved
    0.0867,  # solved votes
    0.4616,  # solved count
    -0.1355,  # library named
    1.7961,  # signature
    0.1182,  # premise doubt
    10.9136,  # below best
    -0.6113,  # log rank
    -0.4769,  # learned score
    0.1684,  # learned lead
)
CONFIDENCE_BIAS = -4.5831
# Held out (the first entry shown by meaning to 1,757 training posts; 5 folds), the score
# rule it replaced (>= 0.45) called 168 the likely fix, rightly 0.393 of the time, 0.196 of
# the right ones and 0.084 of the posts with no entry; a confidence of 0.3 / 0.35 / 0.4
# calls 192 / 135 / 108, rightly 0.469 / 0.519 / 0.528, 0.268 / 0.208 / 0.170 of the right
# ones and 0.097 / 0.061 / 0.050 of the no-entry posts. The rule, set before the levels
# were read: the lowest level right at least half the time that calls fewer no-entry posts
# than the score rule did; 0.35 is also better than that rule on each count. Refitted on
# the 2,548 (thirty-ninth pass), the same rule picks 0.35 again: it calls 199, rightly
# 0.518, 0.231 of the right ones and 0.068 of the no-entry posts (score rule: 224, 0.415,
# 0.209, 0.081; 0.3 calls 0.086 of the no-entry posts).
# The forty-fifth pass read it on `tune` (real questions; many entries were written from
# training posts, so those read as better matched than a new question does): 14 of 134
# answers led with a match by meaning called the likely fix, and 1 was the labelled
# entry (0 of 7 / 2 at 0.5 / 0.7). The labels predate many entries, though: two blind
# reviewers judged 9 and 11 of the 14 to point to the fix. The decision rests on their
# paired review, by a rule set before it was read (fewer wrong answers, helpfulness down
# at most 0.05): with the same text headed "possibly related", wrong fell from 7 to 2 of
# 28 judgements and helpfulness stayed the same (they preferred the old heading 17 times,
# the new 10). So no level is used: only an error text an entry's signature matches is
# called the likely fix. A level (e.g. 0.35) can be set again here.
STRONG_CONFIDENCE: float | None = None
# A signature match is called the likely fix unless the entry's signatures fired on at
# least this many labelled training posts (advisor.kb_store.signature_record, counted at
# build time) and fewer than half of those were solved by the entry: an error line that
# several problems print ("no file named pytorch_model.bin", "CUDA out of memory") is
# evidence of the error, not of this cause. The same "right at least half the time" rule
# the confidence level was chosen by; RESULTS, forty-sixth pass.
SIGNATURE_MIN_FIRED = 2


def likely(conf: float) -> bool:
    """Whether a match by meaning with learned confidence ``conf`` is called the likely
    fix: never while :data:`STRONG_CONFIDENCE` is ``None``."""
    return STRONG_CONFIDENCE is not None and conf >= STRONG_CONFIDENCE


def signature_likely(fired: int, right: int) -> bool:
    """Whether a match by an entry's signature is called the likely fix, given on how
    many labelled training posts its signatures ``fired`` and how many of those it
    solved (``right``); see :data:`SIGNATURE_MIN_FIRED`."""
    return fired < SIGNATURE_MIN_FIRED or 2 * right >= fired


def rank_features(m: KnownIssueMatcher, seen: QuestionReading, q: np.ndarray,
                  signed: set[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(rows, X)``: the :data:`CANDIDATES` best entries by ``seen.scores`` and their
    :data:`RANK_FEATURES`, ``(len(rows), F)``, from what :meth:`KnownIssueMatcher.read`
    measured (``seen``; it needs the matcher's vectors). ``q`` is the question's vector,
    ``signed`` the rows whose signature fired (read from ``seen.text`` when not given)."""
    rows = np.argsort(-seen.scores, kind="stable")[:CANDIDATES]
    n = len(m.issues)
    p_dense, p_tf = np.zeros(n), np.zeros(n)
    if seen.tf_phr is not None:
        np.maximum.at(p_tf, m._owner, seen.tf_phr)
        np.maximum.at(p_dense, m._owner, seen.dense_phr)
    near = np.zeros(n) if seen.near is None else seen.near
    votes, count = np.zeros(n), np.zeros(n)
    if seen.sims is not None:
        top = np.argsort(-seen.sims, kind="stable")[:NEIGHBOURS]
        np.add.at(votes, m._solved_rows[top], seen.sims[top])
        np.add.at(count, m._solved_rows[top], 1)
    lib = np.zeros(n)
    for name in seen.named:
        lib[m._by_library[name]] = 1
    if signed is None:
        signed = {m._pos[hit.issue.id] for hit in m.signature_matches(seen.text)}
    sig = np.zeros(n)
    sig[list(signed)] = 1
    doubt = np.array([m._premise_fails(int(j), q) for j in rows], float)
    s = seen.scores[rows]
    example = np.asarray((seen.q_tf @ m._tf_example[rows].T).todense()).ravel()
    fix = np.asarray((seen.q_tf @ m._tf_fix[rows].T).todense()).ravel()
    X = np.stack([s, seen.dense[rows], seen.tf[rows], p_dense[rows], p_tf[rows], example, fix,
                  near[rows], votes[rows], count[rows], lib[rows], sig[rows], doubt,
                  s - s.max(), np.log1p(np.arange(len(rows)))], 1)
    return rows, X


def learned_leads(learned: np.ndarray) -> np.ndarray:
    """Each candidate's learned score minus the best score of the other candidates."""
    if len(learned) < 2:
        return np.zeros(len(learned))
    top2 = np.sort(learned)[-2:]
    return learned - np.where(learned >= top2[1], top2[0], top2[1])


def confidence(X: np.ndarray, learned: np.ndarray) -> np.ndarray:
    """How likely each candidate (rows of ``X`` over :data:`RANK_FEATURES`, ``learned``
    their scores by :data:`RANK_WEIGHTS`) holds the question's fix, in [0, 1]: a logistic
    regression over :data:`CONFIDENCE_FEATURES`."""
    Z = np.column_stack([X, learned, learned_leads(learned)])
    return 1.0 / (1.0 + np.exp(-(Z @ np.asarray(CONFIDENCE_WEIGHTS, float) + CONFIDENCE_BIAS)))


def learned_reading(m: KnownIssueMatcher, seen: QuestionReading, q: np.ndarray,
                    weights: tuple[float, ...] | np.ndarray = RANK_WEIGHTS,
                    signed: set[int] | None = None) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Entry rows of the :data:`CANDIDATES` best by ``seen.scores``, best first by
    ``weights`` over :data:`RANK_FEATURES` (ties keep the order by score), their learned
    scores and their :func:`confidence`, in that order."""
    rows, X = rank_features(m, seen, q, signed)
    learned = X @ np.asarray(weights, float)
    order = np.argsort(-learned, kind="stable")
    return rows[order].tolist(), learned[order], confidence(X, learned)[order]


def learned_order(m: KnownIssueMatcher, seen: QuestionReading, q: np.ndarray,
                  weights: tuple[float, ...] | np.ndarray = RANK_WEIGHTS,
                  signed: set[int] | None = None) -> tuple[list[int], np.ndarray]:
    """:func:`learned_reading` without the confidences."""
    order, learned, _ = learned_reading(m, seen, q, weights, signed)
    return order, learned
