"""The task vocabulary: how beginners phrase a model request, mapped to Hub terms.

:func:`parse_request` turns free text such as "small model for Spanish NER that runs on
CPU, commercial use" into a :class:`ModelRequest`: a Hub ``pipeline_tag``, language
codes, a licence family, a parameter budget (:mod:`advisor.sizes`), a library/format
and the cues that fired (so the UI can say *why* it understood the request that way).

The task cues are a readable table of regular expressions, checked in order (the first
that matches wins); they are one vote among several: the recommender blends them with
the task model learned from the corpus (:mod:`advisor.taskmodel`). Task descriptions
(``prompts/tasks.yaml``) and the tool -> format map (``prompts/tools.yaml``) are data.
This module knows nothing about which models exist; the recommender
(:mod:`advisor.recommender`) does the matching, :mod:`advisor.snippets` the code.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from advisor.config import PROMPTS_DIR
from advisor.datafiles import load_yaml
from advisor.sizes import apply_size_budget
from advisor.sizes import cue as _cue

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class TaskSpec:
    """One Hub task: its pipeline tag, a human title, a description and an example input."""

    tag: str
    title: str
    example: str  # Python literal source for the example input of the snippet
    kind: str = "pipeline"  # pipeline | sentence-transformers | diffusers
    description: str = ""


TASKS_FILE = PROMPTS_DIR / "tasks.yaml"


@functools.lru_cache(maxsize=4)
def load_task_specs(path: Path = TASKS_FILE) -> dict[str, TaskSpec]:
    """The Hub tasks described in ``prompts/tasks.yaml`` (content lives there, not here)."""
    data = load_yaml(Path(path).read_text(encoding="utf-8")) or {}
    return {
        str(tag): TaskSpec(str(tag), str(d["title"]), str(d.get("example", '""')),
                           str(d.get("kind", "pipeline")), " ".join(str(d.get("description", "")).split()))
        for tag, d in data.items()
    }


TASKS: dict[str, TaskSpec] = load_task_specs()
MODALITIES_FILE = PROMPTS_DIR / "modalities.yaml"


@functools.lru_cache(maxsize=4)
def load_modalities(path: Path = MODALITIES_FILE) -> dict[str, str]:
    """``{pipeline tag: modality}`` from ``prompts/modalities.yaml`` (audio, vision, text);
    a tag listed under two modalities is an error in the file."""
    data = load_yaml(Path(path).read_text(encoding="utf-8")) or {}
    out: dict[str, str] = {}
    for modality, tags in data.items():
        for tag in tags or []:
            if tag in out:
                raise ValueError(f"{path}: {tag!r} is listed under {out[tag]!r} and {modality!r}")
            out[str(tag)] = str(modality)
    return out


@dataclass(frozen=True)
class TaskCue:
    """A phrasing that signals a task; ``keywords`` boost models whose id/tags match."""

    pattern: str
    task: str
    keywords: tuple[str, ...] = ()


# Checked in order: the first match decides the task. Specific before generic.
TASK_CUES: tuple[TaskCue, ...] = (
    TaskCue(r"(which|what|good|best|a) (pre-?trained |base )?(model|checkpoint|backbone)s? "
            r"(should|could|can|to|do|would) (i |we )?(use to |start to )?fine[- ]?tun\w*|"
            r"\bbase model\b.{0,40}fine[- ]?tun|fine[- ]?tun\w* .{0,20}\b(vs\.?|versus|or)\b|"
            r"\bvs\.? .{0,80}fine[- ]?tune|which (one|model|checkpoint) should (i|we) fine[- ]?tune",
            "fill-mask", ("base", "cased", "uncased")),
    TaskCue(r"zero[- ]?shot|no label(l)?ed data|without (any )?(label(l)?ed data|labels|"
            r"training data)|don'?t have (any )?(labels|label(l)?ed data)", "zero-shot-classification",
            ("mnli", "xnli", "nli")),
    TaskCue(r"\bnli\b|natural language inference|entailment", "zero-shot-classification",
            ("mnli", "nli")),
    TaskCue(r"table[- ]?(question|qa)|questions? (about|over|on) (a )?(tables?|spreadsheets?)|"
            r"spreadsheet|excel (file|sheet)", "table-question-answering", ("tapas", "wtq")),
    TaskCue(r"visual question|questions? about (an |the |a )?(image|photo|picture|it)\b.{0,20}"
            r"(image|photo|picture)?|(picture|image|photo).{0,60}ask (it )?(a )?questions?",
            "visual-question-answering", ("vqa", "vilt")),
    TaskCue(r"(search|find|retrieve) .{0,40}(photos?|images?|pictures?).{0,60}(typing|text|"
            r"description|words)|text[- ]to[- ]image (search|retrieval)|image search|\bclip\b",
            "zero-shot-image-classification", ("clip",)),
    TaskCue(r"\b(ner|named[- ]entit\w*)\b|(extract|pull|pick|get|find|identify|detect|tag|"
            r"spot)\w* (out )?(all )?(the )?(names|entities|people|persons|person names|"
            r"companies|organi[sz]ations|locations|places|cities|dates)",
            "token-classification", ("ner", "conll03")),
    TaskCue(r"\b(pos|part[- ]of[- ]speech)\b( tag\w*)?|token classification|tag (each|every) "
            r"(word|token)", "token-classification", ("pos", "upos")),
    TaskCue(r"speech[- ]to[- ]text|transcri(be|bing|ption)|speech recognition|\basr\b|"
            r"subtitles? (from|for) (audio|video)|dictation|(audio|recordings?|podcasts?|"
            r"lectures?|voice|speech|meetings?|calls?|interviews?|voice notes?)\b.{0,60}"
            r"\b(into|to) (text|written)", "automatic-speech-recognition",
            ("wav2vec2", "whisper", "xlsr")),
    TaskCue(r"text[- ]to[- ]speech|\btts\b|read (it |text )?(out )?aloud|speech synthesis|"
            r"synthesi[sz]e (speech|voice)|generate (speech|voice)|(natural|human)[- ]"
            r"(sounding )?voice", "text-to-speech", ("tts", "fastspeech2", "vits", "ljspeech")),
    TaskCue(r"audio classification|classify (audio|sounds?)|(recogni[sz]e|detect) "
            r"(emotions? in (audio|speech|voice)|sounds?)", "audio-classification", ()),
    TaskCue(r"text[- ]to[- ]image|generate (an )?(images?|pictures?|art)|image generation|"
            r"stable diffusion|diffusion model|draw (a |an )?", "text-to-image",
            ("diffusion", "dalle")),
    TaskCue(r"\bocr\b|read (the )?text (from|in|on) .{0,30}(images?|scans?|photos?|receipts?|"
            r"documents?)|handwrit\w+|scanned", "image-to-text", ("ocr", "trocr")),
    TaskCue(r"caption|describe (an |the )?(image|photo|picture)|image[- ]to[- ]text",
            "image-to-text", ("caption", "captioning")),
    TaskCue(r"object detection|detect(ing|s)? (the )?objects|bounding box|\bboxes\b|"
            r"(find|locate|detect|count)s? .{0,40}\b(in|on|from) (the )?(images?|pictures?|"
            r"photos?|video|camera|frames?)", "object-detection", ("detr", "yolo")),
    TaskCue(r"segment(ation|ing)? (of )?(images?|photos?)|image segmentation|semantic "
            r"segmentation|\bmasks? (of|for) objects|(split|divide|segment|partition)\w* .{0,40}"
            r"(images?|photos?|pictures?).{0,30}(regions|parts|areas|segments)",
            "image-segmentation", ("segformer", "ade", "panoptic")),
    TaskCue(r"image classification|classify (images|photos|pictures)|(images?|photos?|"
            r"pictures?) (classification|classifier)|recogni[sz]e (what is in )?(images|photos)",
            "image-classification", ("vit", "resnet")),
    TaskCue(r"summar(y|ies|i[sz]e|i[sz]ing|i[sz]ation)|tl;?dr|shorten|condense|boil down|"
            r"into \d+(-\d+)? sentences|key points of", "summarization",
            ("cnn", "xsum", "samsum")),
    TaskCue(r"translat(e|ion|ing|or)", "translation", ("opus-mt",)),
    TaskCue(r"(generat\w*|creat\w*|writ\w*|make) (quiz |exam |test |practice )?questions|"
            r"question generation|paraphras(e|ing)|rewrite|text[- ]to[- ]text|\bt5\b",
            "text2text-generation", ("t5", "qg", "question-generation")),
    TaskCue(r"question[- ]answering|answer(ing|s)? (a |the |my |user )?questions?|\bqa\b|"
            r"squad|extract (the )?answers?|find (the )?answers?", "question-answering",
            ("squad", "squad2")),
    TaskCue(r"fill[- ]in[- ]the[- ]blanks?|fill[- ]mask|masked (language|word|token)|missing "
            r"words?|\[mask\]|<mask>", "fill-mask", ()),
    TaskCue(r"re-?rank\w*|cross[- ]encoder|(score|rank) .{0,40}relevan", "text-ranking",
            ("cross-encoder", "ms-marco", "rerank")),
    TaskCue(r"embeddings?|semantic search|sentence similarity|similar (sentences|texts|"
            r"documents|questions)|vector search|retrieval|\brag\b|cluster(ing)? (texts|"
            r"sentences|documents)|dedup\w*|paraphrase (detection|mining)|duplicate questions",
            "sentence-similarity", ("sentence-transformers", "minilm", "mpnet")),
    TaskCue(r"language (detection|identification|id)\b|(detect|identify|recogni[sz]e|guess)\w* "
            r"(the |which |what )?language|which language .{0,40}(written|is it|is this)",
            "text-classification", ("language-detection", "language-identification", "lid")),
    TaskCue(r"sentiment|opinion|polarity|positive|negative|(good|bad) reviews?|happy or",
            "text-classification", ("sentiment", "sst-2", "sst2", "imdb")),
    TaskCue(r"emotion|toxic(ity)?|hate speech|offensive|spam|intent|fake news|topic "
            r"(classification|labels?)|classif(y|ier|ication|ying)|categori[sz]\w*|sort .{0,30} "
            r"into", "text-classification", ()),
    TaskCue(r"chat ?bot|chat|assistant|conversation(al)?|dialog(ue)?|discord|telegram bot",
            "text-generation", ("chat", "instruct", "dialogpt")),
    TaskCue(r"generat(e|ing|ion) (of )?(text|stories|code|poems?|articles?)|text generation|"
            r"write (stories|code|poems?|text|articles?)|autocomplete|complete (the|my) "
            r"(text|sentence)|\bllm\b|language model|gpt", "text-generation", ()),
)

# --- languages -----------------------------------------------------------------------
# Names (and adjectives) beginners type -> ISO 639-1 codes as the Hub tags them.
LANGUAGE_NAMES: dict[str, str] = {
    "english": "en", "spanish": "es", "castilian": "es", "german": "de", "french": "fr",
    "italian": "it", "portuguese": "pt", "brazilian": "pt", "dutch": "nl", "chinese": "zh",
    "mandarin": "zh", "japanese": "ja", "korean": "ko", "arabic": "ar", "russian": "ru",
    "hindi": "hi", "turkish": "tr", "polish": "pl", "swedish": "sv", "finnish": "fi",
    "danish": "da", "norwegian": "no", "greek": "el", "hebrew": "he", "persian": "fa",
    "farsi": "fa", "indonesian": "id", "vietnamese": "vi", "thai": "th", "ukrainian": "uk",
    "czech": "cs", "romanian": "ro", "hungarian": "hu", "bengali": "bn", "urdu": "ur",
    "tamil": "ta", "swahili": "sw", "catalan": "ca", "basque": "eu", "malay": "ms",
}
# Bare codes are only trusted when they cannot be ordinary English words
# ("it", "no", "id", "he", "hi", and "uk"/"cs"/"ca" as in "UK English", "CS student"
# are left out on purpose; the names still work).
SAFE_LANGUAGE_CODES = frozenset(
    {"en", "es", "de", "fr", "pt", "nl", "zh", "ja", "ko", "ar", "ru", "tr", "pl", "sv",
     "fi", "da", "el", "fa", "vi", "th", "ro", "hu", "bn", "ur", "ta", "sw"}
)
MULTILINGUAL = "multilingual"
_MULTI_CUE = re.compile(r"\b(multi[- ]?lingual|many languages|any language|cross[- ]lingual|several languages)\b")

# --- licence, size, library ----------------------------------------------------------
_COMMERCIAL = re.compile(
    r"\b(commercial(ly)?|for (my |our |a )?(company|business|startup|product|client)s?|"
    r"sell|paid (app|product|service)|production use|permissive(ly)? licen[cs]ed?|"
    r"open[- ]source licen[cs]e|apache|\bmit licen[cs]e)\b"
)
_NON_COMMERCIAL_OK = re.compile(r"\bnon[- ]?commercial|research only|academic use\b")
# The user will train it further ("fine-tune", "a base model"): for encoder tasks the
# pre-trained checkpoints (fill-mask on the Hub) join the candidates beside trained ones.
_FINE_TUNE = re.compile(r"\b(fine[- ]?tun\w*|further[- ]train\w*|base (?:model|version|"
                        r"checkpoint)s?|pre-?trained[- ]only|only pre-?trained)\b")
BASE_MODEL_TASKS = frozenset({"text-classification", "token-classification",
                              "question-answering", "multiple-choice"})
TOOLS_FILE = PROMPTS_DIR / "tools.yaml"


@functools.lru_cache(maxsize=4)
def load_tool_formats(path: Path = TOOLS_FILE) -> dict[str, str]:
    """Regex on a request -> the library/format filter it implies (``prompts/tools.yaml``:
    the tools and runtimes people name, mapped to what they load)."""
    data = load_yaml(Path(path).read_text(encoding="utf-8")) or {}
    out: dict[str, str] = {}
    for library, names in data.items():
        pattern = "|".join(rf"\b{re.escape(str(n).lower())}\b" for n in names)
        out[pattern] = str(library)
    return out


LIBRARY_CUES: dict[str, str] = load_tool_formats()
# Library filter value -> the tags/formats/library names that satisfy it.
LIBRARY_ALIASES: dict[str, tuple[str, ...]] = {
    "pytorch": ("pytorch", "transformers", "safetensors"),
    "tensorflow": ("tf", "tensorflow", "keras", "tflite"),
    "onnx": ("onnx", "onnxruntime", "transformers.js"),
    "gguf": ("gguf", "llama.cpp"),
    "jax": ("jax", "flax"),
    "mlx": ("mlx",),
    "transformers": ("transformers",),
}

# Domain words -> the words model ids use for them ("tweets" -> "twitter").
DOMAIN_KEYWORDS: dict[str, tuple[str, ...]] = {
    r"\btweets?\b|twitter|\bx posts?\b": ("twitter", "tweet"),
    r"financ\w*|stocks?\b|earnings": ("finbert", "financial", "finance"),
    r"medical|clinical|biomedical|health": ("bio", "clinical", "medical", "pubmed"),
    r"\blegal\b|law\b": ("legal",),
    r"\bcode\b|programming": ("code",),
    r"emotions?": ("emotion",),
    r"\bgerman\b": ("german",),
    r"\bspanish\b": ("spanish",),
    r"\bfrench\b": ("french",),
}

_WORD = re.compile(r"[a-z0-9][a-z0-9.+-]*")
STOPWORDS = frozenset(
    "a an the for of to in on with and or is are be that this my me i we our you your which "
    "what model models best good recommend need want use using can could should would do "
    "does how find some any from into it its by as at please help looking run runs running "
    "small tiny fast cpu gpu laptop free commercial use pretrained pre-trained huggingface hub "
    "hf task tasks something like".split()
)


@dataclass
class ModelRequest:
    """What a model request asks for; ``None`` fields carry no constraint."""

    text: str
    task: str | None = None
    languages: list[str] = field(default_factory=list)  # ISO codes or "multilingual"
    license_family: str | None = None  # "oss" when commercial use was asked
    max_params: int | None = None
    library: str | None = None
    library_strict: bool = False  # an explicit filter (in the text it only ranks)
    cpu_only: bool = False
    query_text: str = ""  # content words for lexical relevance
    keywords: list[str] = field(default_factory=list)  # task cue boosts ("sentiment", "ner")
    domain: list[str] = field(default_factory=list)  # domain boosts ("finbert", "twitter")
    cues: list[str] = field(default_factory=list)  # human-readable: "'NER' -> token-classification"
    task_confidence: float | None = None  # learned task inference: probability of ``task``
    task_alternatives: list[tuple[str, float]] = field(default_factory=list)  # runner-ups
    mentioned: list[str] = field(default_factory=list)  # model ids named in the text
    exclude: list[str] = field(default_factory=list)  # ids not to offer (already named)
    size_cues: list[str] = field(default_factory=list)  # the cues behind max_params
    # ``max_params`` is a budget read from words (a phone, "small", "8 GB"): larger models
    # rank lower (advisor.pools.OVER_BUDGET_PENALTY). ``size_limit`` is a limit asked for
    # (a filter, "under 1B parameters", "smaller than X"): larger models are dropped.
    size_limit: int | None = None
    fine_tune: bool = False  # the user will train it further: base checkpoints fit too
    min_tokens: int | None = None  # inputs this long must fit (advisor.context)


def detect_task(text: str) -> tuple[str | None, list[str], str | None]:
    """``(pipeline tag, boost keywords, cue)`` for the first task cue that matches."""
    low = text.lower()
    for cue in TASK_CUES:
        m = re.search(cue.pattern, low)
        if m:
            return cue.task, list(cue.keywords), _cue(m, cue.task)
    return None, [], None


def detect_languages(text: str) -> tuple[list[str], list[str]]:
    """Language codes in order of mention (names, safe bare codes, 'multilingual')."""
    langs: list[str] = []
    cues: list[str] = []
    for _, code, cue in language_mentions(text):
        if code not in langs:
            langs.append(code)
            cues.append(cue)
    return langs, cues


def language_mentions(text: str) -> list[tuple[int, str, str]]:
    """Every mention of a language: ``(character offset, code, cue)`` in text order."""
    low = text.lower()
    found: list[tuple[int, str, str]] = []
    for name, code in LANGUAGE_NAMES.items():
        for m in re.finditer(rf"\b{name}\b", low):
            found.append((m.start(), code, _cue(m, code)))
    for m in re.finditer(r"(?<![\w-])([a-z]{2})(?![\w-])", text):  # lower-case bare codes
        if m.group(1) in SAFE_LANGUAGE_CODES:
            found.append((m.start(), m.group(1), _cue(m, m.group(1))))
    for m in re.finditer(r"(?<![\w-])([A-Z]{2})(?![\w-])", text):  # "ES", "DE"
        code = m.group(1).lower()
        if code in SAFE_LANGUAGE_CODES:
            found.append((m.start(), code, _cue(m, code)))
    m = _MULTI_CUE.search(low)
    if m:
        found.append((m.start(), MULTILINGUAL, _cue(m, MULTILINGUAL)))
    return sorted(found)


def detect_library(text: str) -> tuple[str | None, str | None]:
    low = text.lower()
    for pattern, lib in LIBRARY_CUES.items():
        m = re.search(pattern, low)
        if m:
            return lib, _cue(m, f"library {lib}")
    return None, None


def detect_license(text: str) -> tuple[str | None, str | None]:
    low = text.lower()
    if _NON_COMMERCIAL_OK.search(low):
        return None, None
    m = _COMMERCIAL.search(low)
    if m:
        return "oss", _cue(m, "licence family oss (commercial use allowed)")
    return None, None


def content_words(text: str) -> list[str]:
    """Lower-case words of ``text`` minus stopwords and language names (for matching)."""
    words = []
    for w in _WORD.findall(text.lower()):
        w = w.strip(".-+")
        if len(w) > 1 and w not in STOPWORDS and w not in LANGUAGE_NAMES and w not in words:
            words.append(w)
    return words


def parse_request(text: str) -> ModelRequest:
    """Read task, languages, licence, size and library cues from a free-text request.

    >>> r = parse_request("small Spanish NER model for CPU, commercial use")
    >>> (r.task, r.languages, r.license_family, r.max_params, r.cpu_only)
    ('token-classification', ['es'], 'oss', 1000000000, True)
    """
    text = text or ""
    req = ModelRequest(text=text)
    req.task, req.keywords, cue = detect_task(text)
    if cue:
        req.cues.append(cue)
    req.languages, cues = detect_languages(text)
    req.cues.extend(cues)
    req.library, cue = detect_library(text)
    if cue:
        req.cues.append(cue)
    req.license_family, cue = detect_license(text)
    if cue:
        req.cues.append(cue)
    apply_size_budget(req)
    ft = _FINE_TUNE.search(text.lower())
    if ft:
        req.fine_tune = True
        req.cues.append(_cue(ft, "base checkpoints to fine-tune"))
    if req.task == "translation" and len([x for x in req.languages if x != MULTILINGUAL]) >= 2:
        src, tgt = [x for x in req.languages if x != MULTILINGUAL][:2]
        req.keywords = [f"{src}-{tgt}", *req.keywords]
    low = text.lower()
    for pattern, words in DOMAIN_KEYWORDS.items():
        if re.search(pattern, low):
            req.domain.extend(w for w in words if w not in req.domain)
    req.query_text = " ".join(content_words(text))
    log.debug("parsed request %r -> %s", text[:80], req.cues)
    return req


def task_title(tag: str | None) -> str:
    return TASKS[tag].title if tag in TASKS else (tag or "unknown task")
