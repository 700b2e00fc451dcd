"""Workflow files checked against the county's standards beside them.

A workflow's guards may read `policy.<name>`; the names come from the standards file in
the `policy` directory next to the workflow files (`workflows/policy/standards.yaml`).
This module finds and reads that file and hands its names to the language's loader.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from aidflow.errors import Problem, WorkflowInvalidError
from aidflow.language.loader import LoadedWorkflow, load_workflow_text
from aidflow.language.yamlfile import read_yaml_file
from aidflow.policy.standards import POLICY_DIR, policy_names


def workflow_files(directory: str | Path) -> list[Path]:
    """The workflow files of a directory, in name order."""
    return sorted(p for p in Path(directory).glob("*.yaml") if p.is_file())


def load_workflow_file(path: str | Path, *, policy_dir: str | Path | None = None) -> LoadedWorkflow:
    """Validate a workflow file; WorkflowInvalidError lists every problem.

    Its guards' policy names come from `policy_dir` (by default the `policy` directory next
    to the file).
    """
    p = Path(path)
    doc = read_yaml_file(p)
    if doc.problems and doc.data is None:  # unreadable: nothing to check the names against
        raise WorkflowInvalidError(doc.problems)
    policy = policy_names(policy_dir if policy_dir is not None else p.parent / POLICY_DIR)
    return load_workflow_text(p.read_text(encoding="utf-8"), str(path), policy=policy)


def check_files(
    paths: Iterable[str | Path], *, policy_dir: str | Path | None = None
) -> list[Problem]:
    """Every problem in every file (an empty list means all are valid)."""
    problems: list[Problem] = []
    for path in paths:
        try:
            load_workflow_file(path, policy_dir=policy_dir)
        except WorkflowInvalidError as exc:
            # files sharing a bad policy file list its problems once
            problems.extend(p for p in exc.problems if p not in problems)
    return problems
