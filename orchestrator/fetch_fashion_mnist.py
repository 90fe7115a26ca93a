"""Set-up time download of Fashion-MNIST's four IDX files, for machines without the Debian package.

    python -m orchestrator.fetch_fashion_mnist DEST [--mirror URL]     (or: make fashion-mnist DEST=DIR)

Then ``--data fashion-mnist:DEST``. Each file is checked against the SHA-256 of its *decompressed* IDX
content, taken from the Debian package ``dataset-fashion-mnist`` (0.0~git20200523.55506a9-1): Debian
re-compressed the upstream ``.gz`` files (other header, same content), so checksums of the ``.gz`` bytes
could not match both. The pipeline never downloads; this runs once, by hand or from the Makefile.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import logging
import sys
import urllib.request
import zlib
from pathlib import Path

logger = logging.getLogger(__name__)

MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
           "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/")
# SHA-256 of the decompressed files (name -> digest), as installed by dataset-fashion-mnist.
SHA256 = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}


class FetchError(RuntimeError):
    """No mirror gave a file with the expected content."""


def content_sha256(packed: bytes) -> str:
    """SHA-256 of the IDX content of ``packed`` (gzip-compressed or not)."""
    return hashlib.sha256(gzip.decompress(packed) if packed[:2] == b"\x1f\x8b" else packed).hexdigest()


def fetch(dest: str | Path, mirrors: tuple[str, ...] = MIRRORS, timeout: float = 60.0) -> list[Path]:
    """Download the four ``.gz`` files into ``dest`` (files already there with the right content are kept)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, digest in SHA256.items():
        path = dest / f"{name}.gz"
        if path.is_file() and _matches(path.read_bytes(), digest):
            logger.info("%s: already there", path)
        else:
            path.write_bytes(_download(f"{name}.gz", digest, mirrors, timeout))
            logger.info("%s: downloaded, SHA-256 of its content checked", path)
        paths.append(path)
    return paths


def _matches(packed: bytes, digest: str) -> bool:
    try:
        return content_sha256(packed) == digest
    except (OSError, EOFError, zlib.error):
        return False


def _download(filename: str, digest: str, mirrors: tuple[str, ...], timeout: float) -> bytes:
    problems = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                packed = response.read()
        except OSError as exc:
            problems.append(f"{url}: {exc}")
            continue
        if _matches(packed, digest):
            return packed
        problems.append(f"{url}: content does not match SHA-256 {digest[:12]}...")
    raise FetchError(f"{filename}: no mirror gave the expected file ({'; '.join(problems)})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestrator.fetch_fashion_mnist",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("dest", help="folder for the four IDX files (then use --data fashion-mnist:DEST)")
    parser.add_argument("--mirror", action="append", help="base URL holding the four .gz files (repeatable; "
                        "default: Zalando's S3 bucket, then GitHub)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        fetch(args.dest, tuple(args.mirror) if args.mirror else MIRRORS)
    except (FetchError, OSError) as exc:
        logger.error("error: %s", exc)
        return 1
    logger.info("done: use --data fashion-mnist:%s", args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
