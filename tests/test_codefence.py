"""Snippet fences carry the snippet's language (shell commands are not Python)."""

from __future__ import annotations

import pytest

from advisor.codefence import code_block, code_language


@pytest.mark.parametrize("code, lang", [
    ("from transformers import pipeline\nclf = pipeline('sentiment-analysis')", "python"),
    ("# pip install sentencepiece\nfrom transformers import AutoTokenizer", "python"),
    ("tok.pad_token = tok.eos_token\nmodel.config.pad_token_id = tok.pad_token_id", "python"),
    ("pip install -U transformers\nhf auth login", "bash"),
    ("# clean the cache\nhf cache ls\nhf cache prune", "bash"),
    ("export HF_HOME=/data/hf\npython -c \"import transformers\"", "bash"),
    ("docker run --gpus all \\\n  -p 8080:80 ghcr.io/huggingface/text-generation-inference", "bash"),
    ("FROM python:3.12\nRUN pip install transformers\nCMD [\"python\", \"app.py\"]", "dockerfile"),
    ("---\ntitle: Demo\nsdk: gradio\napp_file: app.py\n---", "yaml"),
    ("import { pipeline } from \"@huggingface/transformers\";\n"
     "const out = await pipeline(\"sentiment-analysis\");", "javascript"),
    ("", "python"),
])
def test_code_language(code, lang):
    assert code_language(code) == lang


def test_code_block_fences_with_the_language():
    assert code_block("  hf auth login\n") == "```bash\nhf auth login\n```"


def test_every_known_issue_snippet_gets_a_fence_language():
    """Over the real knowledge base: most snippets are Python, the shell ones are found,
    and a snippet with a Python import is never called anything else."""
    from advisor.known_issues import load_known_issues

    langs = {i.id: code_language(i.snippet) for i in load_known_issues() if i.snippet}
    assert sum(v == "python" for v in langs.values()) > 0.8 * len(langs)
    assert sum(v == "bash" for v in langs.values()) >= 10
    for i in load_known_issues():
        if i.snippet and "\nimport " in f"\n{i.snippet}" and "from \"" not in i.snippet:
            assert langs[i.id] == "python", i.id
