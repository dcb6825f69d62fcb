"""The README's example commands run as written from the repository root: every file they name is
in the repository, in the third-party data folder (../shared/data), or written by the examples
into a git-ignored folder (scratch/, build/); other names are said to be the reader's own."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import SHARED_DATA

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
FILE = re.compile(r"[\w./-]+\.(?:h5|aedat4?|nir|bin|npy|pth|safetensors|json|jsonl|csv|png|raw|dat|md)\b")
GENERATED = ("scratch/", "build/")
#: names the README says are the reader's own files (checked: the README says so beside them)
OWN = {"ckpt.pth": "your own checkpoint"}


def _named_files() -> list[str]:
    names = []
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.splitlines():
            names += FILE.findall(line.split("  #")[0])
    return names


def test_example_files_exist_or_are_generated_into_ignored_folders():
    gitignore = (ROOT / ".gitignore").read_text().split()
    assert "/scratch/" in gitignore and "build/" in gitignore
    names = _named_files()
    assert "eventsim/data/demo_model.h5" in names and "../shared/data/nmnist/sample_nmnist.bin" in names
    for name in names:
        if name.startswith(GENERATED):
            continue
        if name in OWN:
            assert OWN[name] in README, f"README: say where {name} comes from"
        elif name.startswith("../shared/data/"):
            rel = name.removeprefix("../shared/data/")
            assert not SHARED_DATA.is_dir() or (SHARED_DATA / rel).is_file(), f"README: no {name}"
        else:
            assert (ROOT / name).is_file(), f"README names {name}, which is not in the repository"


def test_scratch_outputs_are_made_by_an_earlier_command_or_written_by_one():
    # a scratch/ file read by a command must be written by an earlier one (the order matters)
    seen: set[str] = set()
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.splitlines():
            code = line.split("  #")[0]
            # written by an option (-o, --json, --plot, --csv, --results) or by a `python -c` line
            outputs = set(re.findall(r"(?:-o |--json |--plot |--csv |--results )(scratch/[\w./-]+)", code))
            if code.startswith("python -c"):
                outputs |= set(re.findall(r"'(scratch/[\w./-]+)'", code))
            for name in FILE.findall(code):
                if name.startswith("scratch/") and name not in outputs:
                    assert name in seen, f"README reads {name} before any command writes it: {code}"
            seen |= outputs
