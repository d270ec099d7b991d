"""Decode every image of a folder, in parallel, remembering what decoded (no torch).

``spp-lab check-data FILE`` and ``data.skip_bad`` use it. Each file that decoded is cached
by path, size and modification time (in ``$XDG_CACHE_HOME/spp-lab``, else
``~/.cache/spp-lab``: a dataset folder may be read-only), so a second check reads only
the files that changed; a bad file is checked again every time. Decoding runs in threads
(PIL releases the GIL while it decodes), so it is safe inside a training job too.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from spp_lab.data.folder import BadImage, decode
from spp_lab.fileio import cache_dir, write_atomic


def cache_file(root: Path) -> Path:
    key = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:16]
    return cache_dir() / f"verified-{key}.json"


def _stamp(path: Path) -> list[int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def _check_one(path: Path) -> str | None:
    try:
        decode(path)
    except BadImage as err:
        return str(err)
    return None


def verify(files: Iterable[Path], root: Path, workers: int | None = None,
           on_done: Callable[[int], None] | None = None) -> dict[Path, str]:
    """Decode each of ``files`` not verified before (by path, size, mtime); returns the
    bad ones with the reason. ``on_done(k)``: k more files checked (a progress bar)."""
    files = list(files)
    cache_path = cache_file(root)
    try:
        cache: dict[str, Any] = json.loads(cache_path.read_text())
    except (OSError, ValueError):
        cache = {}
    stamps = {f: _stamp(f) for f in files}
    todo = [f for f in files if cache.get(str(f)) != stamps[f] or stamps[f] is None]
    if on_done and len(files) > len(todo):
        on_done(len(files) - len(todo))
    bad: dict[Path, str] = {}
    workers = workers or min(16, (os.cpu_count() or 1) * 2)
    with ThreadPoolExecutor(workers) as pool:
        for f, why in zip(todo, pool.map(_check_one, todo, chunksize=16)):
            if why is None:
                cache[str(f)] = stamps[f]
            else:
                bad[f] = why
                cache.pop(str(f), None)
            if on_done:
                on_done(1)
    try:
        write_atomic(cache_path, json.dumps(cache))
    except OSError:
        pass  # a cache that cannot be written only costs time
    return bad


def drop_bad(c: Any, *splits: Any) -> tuple[Any, ...]:
    """``data.skip_bad``: each split (files, labels) without the files that do not decode,
    and how many were dropped."""
    present = [s for s in splits if s is not None]
    every = [f for files, _ in present for f in files]
    bad = verify(every, Path(c.root or "."))
    for _, why in sorted(bad.items()):
        print(f"== skipped (data.skip_bad): {why}")
    out = []
    for s in splits:
        if s is None:
            out.append(None)
            continue
        keep = [i for i, f in enumerate(s[0]) if f not in bad]
        out.append(([s[0][i] for i in keep], [s[1][i] for i in keep]))
    return (*out, len(bad))


def check_every_image(data: Any, say: Callable[[str], None] = print) -> int:
    """``spp-lab check-data``: decode every image the data config reads, in parallel with a
    progress line on stderr, skipping files verified before (by path, size and mtime);
    names each bad file; returns how many are bad."""
    import sys

    from spp_lab.checks import check_data
    from spp_lab.data.registry import data_root, dataset_spec

    check_data(data)
    spec = dataset_spec(data.name)
    if spec.files is None:
        say(f"check-data: data.name={data.name}: no image files of its own to decode")
        return 0
    files = spec.files(data)
    for split, counts in (spec.census(data) if spec.census else {}).items():
        listed = ", ".join(f"{c} {n}" for c, n in counts.items())
        say(f"check-data: {split}: {len(counts)} classes: {listed}")
    done = [0]

    def tick(k: int) -> None:
        done[0] += k
        if sys.stderr.isatty() or done[0] == len(files):
            print(f"\rcheck-data: {done[0]}/{len(files)} images", end="", file=sys.stderr,
                  flush=True)

    bad = verify(files, data_root(data), on_done=tick)
    print(file=sys.stderr)
    for why in (bad[p] for p in sorted(bad)):
        say(f"  bad: {why.split('; remove')[0]}")
    say(f"check-data: {data_root(data)}: {len(files)} images, {len(bad)} bad"
        + ("; fix or remove them, or set data.skip_bad: true to skip them (counted)"
           if bad else ""))
    return len(bad)
