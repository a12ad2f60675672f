"""README's two commands stay true: .ci/run runs exactly the README test command."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _readme_commands() -> list[str]:
    lines = (ROOT / "README.md").read_text().splitlines()
    return [lines[i + 1] for i, line in enumerate(lines) if line.strip() == "```bash"][:2]


def test_readme_opens_with_run_and_test_commands():
    run_command, test_command = _readme_commands()
    assert run_command.endswith("pip install -e . && kedro run")
    assert test_command.endswith('pip install -e ".[test]" && pytest')


def test_ci_runs_the_readme_test_command():
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert _readme_commands()[1] in ci_lines
