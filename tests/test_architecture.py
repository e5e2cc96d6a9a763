"""docs/ARCHITECTURE.md is the map of the library: every module of medfusion_lib is named in it."""
import re

from medfusion_lib.config import repo_root


def test_every_module_is_on_the_map():
    root = repo_root()
    text = (root / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    package = root / "medfusion_lib"
    missing = []
    for path in sorted(package.rglob("*.py")):
        if path.name in ("__init__.py", "__main__.py"):
            continue
        relative = path.relative_to(package)
        folders_named = all(f"{part}/" in text for part in relative.parts[:-1])
        if path.stem not in words or not folders_named:
            missing.append(str(relative))
    assert not missing, f"modules missing from docs/ARCHITECTURE.md: {missing}"
