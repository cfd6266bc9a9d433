"""The Procfile and Dockerfile name every function, with the right target and signature."""

from __future__ import annotations

from conftest import ROOT

from shared.pipeline import subscriptions


def test_procfile_has_one_process_per_function():
    lines = [l for l in (ROOT / "Procfile").read_text().splitlines() if l and not l.startswith("#")]
    processes = dict(line.split(": ", 1) for line in lines)
    assert set(processes) == {*subscriptions.table(), "webhook"}
    for name, command in processes.items():
        assert f"--source functions/{name}/main.py" in command
        if name == "webhook":
            assert "--target webhook" in command and "cloudevent" not in command
        else:
            assert "--target handle" in command and "--signature-type cloudevent" in command
        assert (ROOT / "functions" / name / "main.py").is_file()


def test_dockerfile_serves_the_bundle_it_was_built_for():
    text = (ROOT / "Dockerfile").read_text()
    assert "ARG FUNCTION" in text and "COPY dist/${FUNCTION}/" in text
    assert "--target webhook" in text and "--target handle --source main.py --signature-type cloudevent" in text
    assert "USER petrel" in text  # not root
