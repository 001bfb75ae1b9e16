"""The README promises what CI runs: its test command is .ci/run's last line, word for word."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ci_runs_the_readme_test_command():
    command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- test-command -->", 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0]
    assert block.strip() == command
