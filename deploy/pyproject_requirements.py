"""Split the project's runtime requirements (pyproject.toml) for the image build (deploy/Dockerfile):
torch goes to its own file because it comes from another index (CPU or CUDA wheels), everything
else from PyPI. Dependencies are installed before the source is copied, so a code change does not
reinstall them.

    python pyproject_requirements.py pyproject.toml torch.txt requirements.txt
"""
import re
import sys
import tomllib
from pathlib import Path

SEPARATE_INDEX = {"torch"}


def requirement_name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9._-]+", requirement).group(0).lower().replace("_", "-")


def split_requirements(pyproject: Path) -> tuple[list[str], list[str]]:
    requirements = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    separate = [r for r in requirements if requirement_name(r) in SEPARATE_INDEX]
    return separate, [r for r in requirements if requirement_name(r) not in SEPARATE_INDEX]


def main() -> None:
    pyproject, torch_file, others_file = map(Path, sys.argv[1:4])
    separate, others = split_requirements(pyproject)
    torch_file.write_text("".join(f"{r}\n" for r in separate))
    others_file.write_text("".join(f"{r}\n" for r in others))


if __name__ == "__main__":
    main()
