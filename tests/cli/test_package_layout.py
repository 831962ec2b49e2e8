"""Issue 10 item 4: the command is a package of small modules, one job each, and decides its
exit codes in one place."""

from __future__ import annotations

from pathlib import Path

import roleredis.cli

PACKAGE = Path(roleredis.cli.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))


def test_no_module_of_the_command_is_over_500_lines() -> None:
    assert len(MODULES) >= 6
    sizes = {path.name: len(path.read_text(encoding="utf-8").splitlines()) for path in MODULES}
    assert {name: n for name, n in sizes.items() if n > 500} == {}, sizes


def test_one_exit_code_policy_and_no_environment_writes() -> None:
    for path in MODULES:
        text = path.read_text(encoding="utf-8")
        assert "os.environ[" not in text and "putenv" not in text, path.name
        assert "NoArgsIsHelpError" not in text, path.name  # no class matched by name
        if path.name not in ("app.py", "__main__.py"):  # commands raise; app.ended decides
            assert "_USAGE_CODES" not in text and "sys.exit" not in text, path.name
