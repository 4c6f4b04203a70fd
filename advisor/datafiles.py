"""Parsing the project's YAML data files (``prompts/``: known issues, tasks, tips, cues).

:func:`load_yaml` is ``yaml.safe_load`` through libyaml's C safe loader when PyYAML was
built with it (the wheels are), else the pure-Python one: the same objects, about 12 times
faster (the 1,148 known-issue files: 1.5 s -> 0.12 s here), which the app's start and
every build pay. Errors are PyYAML's ``yaml.YAMLError`` either way. This module does not
validate what it parses; each reader does.
"""

from __future__ import annotations

from typing import Any

import yaml

YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(text: str) -> Any:
    """The YAML document in ``text``, as ``yaml.safe_load`` reads it."""
    return yaml.load(text, Loader=YAML_LOADER)  # noqa: S506 - a safe loader
