"""The one gate for file paths a client names (issue 24, finding 1).

A Gradio file input arrives as a `FileData` whose `path` the client writes. Gradio checks it lies inside
its upload folder only once the Blocks count as launched, which `gr.mount_gradio_app` never marks; so the
boundary is here, whatever Gradio's state: every handler that takes a file passes each path through
`client_path` before opening it. A path is accepted only when

- it is absolute, and the same path after resolving symlinks and `..` (no link anywhere along it);
- it lies strictly inside one of the allowed roots (Gradio's upload folder for this app);
- it is a regular file, not a link, a folder or a device;
- when the app keeps a register of what its upload route received, it is in that register.

Refusals never echo the path: a server path in an error message is itself a leak.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

from core.errors import InputError

REFUSED = ("a file reference that was not uploaded through this page was refused: upload the file again "
           "with the upload button (or POST it to /gradio_api/upload first)")


def upload_root() -> Path:
    """Gradio's upload folder as Gradio itself computes it (GRADIO_TEMP_DIR, else <tmp>/gradio)."""
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder())


def raw_path(item: Any) -> str:
    """The path a Gradio file value names: a str, a FileData, a {"path": ...} dict or a NamedString."""
    if isinstance(item, str | os.PathLike):
        return os.fspath(item)
    if isinstance(item, dict):
        return str(item.get("path") or "")
    return str(getattr(item, "path", None) or getattr(item, "name", None) or "")


def _inside(path: str, roots: Iterable[Path]) -> bool:
    for root in roots:
        real_root = os.path.realpath(root)
        if os.path.commonpath([path, real_root]) == real_root and path != real_root:
            return True
    return False


def client_path(item: Any, roots: Sequence[Path] | None = None, known: Collection[str] | None = None) -> Path:
    """`item`'s path when a client may hand it to us (see the module doc), else InputError."""
    path = raw_path(item)
    if not path or "\x00" in path or not os.path.isabs(path):
        raise InputError(REFUSED)
    normal = os.path.normpath(path)
    if os.path.realpath(path) != normal or normal != path.rstrip(os.sep):
        raise InputError(REFUSED)  # a symlink or `..` on the way: the lexical path is not the real one
    if not _inside(normal, roots if roots is not None else [upload_root()]):
        raise InputError(REFUSED)
    if known is not None and normal not in known:
        raise InputError(REFUSED)
    try:
        mode = os.lstat(normal).st_mode
    except OSError:
        raise InputError("the upload did not arrive (or was cleaned up): upload the file again") from None
    if not stat.S_ISREG(mode):
        raise InputError(REFUSED)
    return Path(normal)


class ClientFiles:
    """`client_path` bound to one app: its upload roots and, once the page exists, the register of paths its
    upload route returned (Blocks.upload_file_set)."""

    def __init__(self, roots: Callable[[], Sequence[Path]] | None = None,
                 register: Callable[[], Collection[Any] | None] | None = None) -> None:
        self._roots = roots or (lambda: [upload_root()])
        self._register = register

    def bind(self, blocks: Any) -> None:
        """Accept only what `blocks`' upload route returned (Gradio keeps them in upload_file_set), inside
        the upload folder it was built with (GRADIO_TEMP_DIR then; ui.server sets it per app)."""
        self._register = lambda: getattr(blocks, "upload_file_set", None)
        folder = getattr(blocks, "GRADIO_CACHE", None)
        if folder:
            self._roots = lambda: [Path(folder)]

    def known(self) -> set[str] | None:
        found = self._register() if self._register is not None else None
        return None if found is None else {os.path.normpath(os.fspath(p)) for p in list(found)}

    def check(self, item: Any) -> Path:
        return client_path(item, self._roots(), self.known())

    def check_all(self, items: Iterable[Any]) -> tuple[list[Path], int]:
        """(accepted paths, number refused): one bad reference does not stop the good ones."""
        good, refused = [], 0
        for item in items:
            try:
                good.append(self.check(item))
            except InputError:
                refused += 1
        return good, refused
