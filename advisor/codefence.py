"""The language of a code snippet, for its markdown fence.

Known-issue fixes and model snippets are mostly Python, but some are shell commands
(``pip install``, ``hf auth login``, ``docker run``), a Dockerfile, YAML (a Space's
README header) or JavaScript (transformers.js). Labelled ``python``, those render with
the wrong highlighting and read as Python to a beginner who pastes them into a notebook.
:func:`code_language` decides from the lines themselves; this module changes no code.
"""

from __future__ import annotations

import re

_SHELL_LINE = re.compile(
    r"^\s*(?:\$ |!?pip3? |!?python3? (?:-[mc] |\S+\.py)|!?hf |huggingface-cli |git |git-lfs |docker |curl |"
    r"wget |export |set [A-Z_]+=|cd |ls |rm |mkdir |conda |uv |apt(?:-get)? |sudo |npm |npx |"
    r"ollama |llama-[\w-]+ |\./llama|accelerate |torchrun |deepspeed |vllm |nvidia-smi|"
    r"brew |chmod |source |echo |cat |[A-Z_][A-Z0-9_]*=\S)")
_YAML_LINE = re.compile(r"^\s*(?:-\s+)?[\w.\-\"']+:(?:\s|$)|^\s*-\s+\S|^---\s*$")
_DOCKER_LINE = re.compile(r"^\s*(?:FROM|RUN|COPY|ADD|WORKDIR|ENV|EXPOSE|CMD|ENTRYPOINT|USER|ARG)\b")
_JS_LINE = re.compile(r"^\s*(?:import .+ from ['\"]|const |let |await |export (?:default|const|function|\{)|console\.)")
_PY_LINE = re.compile(r"^\s*(?:import \w|from [\w.]+ import |def |class |print\()")


def _continued(line: str) -> bool:
    return line.startswith((" ", "\t"))


def code_language(code: str) -> str:
    """``bash`` when every line is a shell command, ``dockerfile``, ``yaml`` or
    ``javascript`` by the same kind of test, else ``python`` (comments do not count, so a
    Python snippet may start with ``# pip install ...``; any Python import wins)."""
    lines = [x for x in code.splitlines()
             if x.strip() and not x.lstrip().startswith(("#", "//"))]
    if not lines or any(_PY_LINE.match(x) for x in lines):
        return "python"
    if any(_DOCKER_LINE.match(x) for x in lines) and all(
            _DOCKER_LINE.match(x) or _SHELL_LINE.match(x) or _continued(x) for x in lines):
        return "dockerfile"
    if _SHELL_LINE.match(lines[0]) and all(
            _SHELL_LINE.match(x) or _continued(x) or x.rstrip().endswith("\\") for x in lines):
        return "bash"
    if any(_JS_LINE.match(x) for x in lines):
        return "javascript"
    if "(" not in lines[0] and all(_YAML_LINE.match(x) or _continued(x) for x in lines):
        return "yaml"
    return "python"


def code_block(code: str) -> str:
    """``code`` in a markdown fence labelled with :func:`code_language`."""
    code = code.strip()
    return f"```{code_language(code)}\n{code}\n```"
