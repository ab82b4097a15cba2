"""A corpus's files as its user put them there, without what systems leave beside them."""

from __future__ import annotations

from pathlib import Path, PurePosixPath


def system_made(parts: tuple[str, ...]) -> bool:
    """Whether a path (its parts below a corpus's root, or in an archive) is one a system made:
    hidden (a leading dot: the `._clip.mp4` AppleDouble file macOS writes beside each file it
    copies to a USB or network disk, `.DS_Store`, `.Trash-1000/`, Jupyter's `.ipynb_checkpoints/`
    copies) or in `__MACOSX/`, where macOS's zips keep those. Taken for clips, they failed as
    unreadable video, or (a `__MACOSX/M003/video/` folder) made a speaker."""
    return any(p.startswith(".") or p == "__MACOSX" for p in parts)


def files_under(root: Path, pattern: str = "*") -> list[Path]:
    """The files under `root` whose names match `pattern`, at any depth and sorted, but those a
    system made (`system_made`)."""
    found = (p for p in root.rglob(pattern) if not system_made(p.relative_to(root).parts))
    return sorted(p for p in found if p.is_file())


def user_members(names: list[str]) -> list[str]:
    """An archive's member names, but those a system made."""
    return [n for n in names if not system_made(PurePosixPath(n).parts)]
