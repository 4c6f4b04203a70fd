"""advisor.datafiles: the fast YAML reader gives what yaml.safe_load gives."""

from __future__ import annotations

import pytest
import yaml

from advisor.config import PROMPTS_DIR
from advisor.datafiles import YAML_LOADER, load_yaml


def test_every_data_file_reads_as_safe_load_reads_it():
    files = sorted(PROMPTS_DIR.rglob("*.yaml"))
    assert len(files) > 100  # the known issues and the other data files
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert load_yaml(text) == yaml.safe_load(text), path


def test_the_c_loader_is_used_when_pyyaml_has_it():
    if yaml.__with_libyaml__:
        assert YAML_LOADER is yaml.CSafeLoader
    assert issubclass(YAML_LOADER, yaml.SafeLoader) or YAML_LOADER is yaml.CSafeLoader


@pytest.mark.parametrize("text", ["a: [1, 2", "key: value\n  bad indent: x", "!!python/object:os.system ls"])
def test_broken_or_unsafe_yaml_raises_yamlerror(text):
    with pytest.raises(yaml.YAMLError):
        load_yaml(text)
