"""TextAttack offline: the NLTK data folder it needs, built at set-up, and a download-free import.

TextAttack 0.3.11 reaches for the network in three places that matter here (measured, see
``shared/OFFLINE.md``, "Word-substitution attacks offline"):

- ``import textattack`` runs ``nltk.download(...)`` for six NLTK packages unless the marker file
  ``$TA_CACHE_DIR/post_install_check_3`` exists (default ``~/.cache/textattack``), and then fails
  without NLTK's English stopword list on disk;
- ``WordSwapWordNet()`` calls ``nltk.download("omw-1.4")`` on every construction (English needs no
  Open Multilingual Wordnet);
- setting ``TA_CACHE_DIR`` rewrites ``HF_HOME`` at import, and the import sets
  ``TOKENIZERS_PARALLELISM=True``.

:func:`build_nltk_data` writes the folder NLTK reads (WordNet 3.0 from Debian's ``wordnet-base`` and
``wordnet-sense-index`` packages plus the ``lexnames`` file Debian omits, NLTK's English stopword
list) once, at set-up (``make setup`` runs ``python -m trusteq.producers.attack.environment``).
By default it goes to ``<venv>/nltk_data``, a folder on NLTK's own search path, so nothing needs
an environment variable. :func:`import_textattack` imports TextAttack with the marker in place,
``nltk.download`` replaced by a function that refuses to fetch, and the environment restored.
Nothing here ever fetches: a missing folder is an error naming the set-up command.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Where Debian's wordnet-base / wordnet-sense-index packages put WordNet 3.0.
DEBIAN_WORDNET = Path("/usr/share/wordnet")
#: The Debian packages that provide it (``apt-get install -y --no-install-recommends ...``).
DEBIAN_PACKAGES = ("wordnet-base", "wordnet-sense-index")
#: The WordNet database files NLTK's reader opens (``index.sense`` for lemma keys).
WORDNET_FILES = tuple(
    f"{kind}.{pos}" for kind in ("data", "index") for pos in ("adj", "adv", "noun", "verb")
) + ("adj.exc", "adv.exc", "noun.exc", "verb.exc", "index.sense", "cntlist.rev")
SETUP_HINT = (
    "run `make setup` (it installs Debian's wordnet-base and wordnet-sense-index and builds the "
    "folder), or `.venv/bin/python -m trusteq.producers.attack.environment` after "
    "`apt-get install -y wordnet-base wordnet-sense-index`"
)

#: WordNet 3.0's lexicographer files (``lexnames(5WN)``): number, name, syntactic category.
#: Debian ships the database without this file; NLTK's reader needs it.
LEXNAMES = (
    "adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute "
    "noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group "
    "noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant "
    "noun.possession noun.process noun.quantity noun.relation noun.shape noun.state "
    "noun.substance noun.time verb.body verb.change verb.cognition verb.communication "
    "verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion "
    "verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl"
).split()
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}

#: NLTK's English stopword list (``nltk_data/corpora/stopwords/english``, 179 words, the list
#: ``StopwordModification()`` and ``PWWSRen2019`` use), in NLTK's order.
ENGLISH_STOPWORDS = (
    "i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself "
    "yourselves he him his himself she she's her hers herself it it's its itself they them their "
    "theirs themselves what which who whom this that that'll these those am is are was were be "
    "been being have has had having do does did doing a an the and but if or because as until "
    "while of at by for with about against between into through during before after above below "
    "to from up down in out on off over under again further then once here there when where why "
    "how all any both each few more most other some such no nor not only own same so than too "
    "very s t can will just don don't should should've now d ll m o re ve y ain aren aren't "
    "couldn couldn't didn didn't doesn doesn't hadn hadn't hasn hasn't haven haven't isn isn't ma "
    "mightn mightn't mustn mustn't needn needn't shan shan't shouldn shouldn't wasn wasn't weren "
    "weren't won won't wouldn wouldn't"
).split()

#: TextAttack's "post-install done" marker (its `_post_install_if_needed`).
MARKER_NAME = "post_install_check_3"


class AttackEnvironmentError(RuntimeError):
    """The offline TextAttack environment is incomplete; the message names the fix."""


def default_nltk_data() -> Path:
    """``<sys.prefix>/nltk_data``: on NLTK's default search path, so no variable is needed."""
    return Path(sys.prefix) / "nltk_data"


def lexnames_text() -> str:
    """The ``lexnames`` file: ``NN<TAB>name<TAB>category`` per line, 45 lines."""
    return "".join(
        f"{number:02d}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n"
        for number, name in enumerate(LEXNAMES)
    )


def build_nltk_data(
    target: str | Path | None = None, wordnet_dir: str | Path = DEBIAN_WORDNET
) -> Path:
    """Write the NLTK data folder TextAttack needs (WordNet 3.0, English stopwords).

    Layout: ``corpora/wordnet/`` (the database files copied from `wordnet_dir` plus ``lexnames``)
    and ``corpora/stopwords/english``. Built in a staging folder renamed into place; an existing
    complete folder is left alone.

    Args:
        target: the folder (default :func:`default_nltk_data`).
        wordnet_dir: WordNet 3.0 database files (Debian: ``/usr/share/wordnet``).

    Returns:
        The folder.

    Raises:
        AttackEnvironmentError: a WordNet file is missing from `wordnet_dir`.
    """
    target = Path(target) if target is not None else default_nltk_data()
    if nltk_data_complete(target):
        return target
    wordnet_dir = Path(wordnet_dir)
    missing = [name for name in WORDNET_FILES if not (wordnet_dir / name).is_file()]
    if missing:
        raise AttackEnvironmentError(
            f"WordNet files {missing} are missing from '{wordnet_dir}'. Install them with "
            f"`apt-get install -y --no-install-recommends {' '.join(DEBIAN_PACKAGES)}` (as root), "
            "or pass --wordnet-dir pointing at a WordNet 3.0 dict/ folder."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}-staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        wordnet = staging / "corpora" / "wordnet"
        wordnet.mkdir(parents=True)
        for name in WORDNET_FILES:
            shutil.copyfile(wordnet_dir / name, wordnet / name)
        (wordnet / "lexnames").write_text(lexnames_text())
        stopwords = staging / "corpora" / "stopwords"
        stopwords.mkdir(parents=True)
        (stopwords / "english").write_text("\n".join(ENGLISH_STOPWORDS) + "\n")
        if target.exists():  # an incomplete folder from an older build
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("NLTK data (WordNet 3.0, English stopwords) written to %s", target)
    return target


def nltk_data_complete(folder: Path) -> bool:
    """Whether `folder` holds every file :func:`build_nltk_data` writes."""
    wordnet = folder / "corpora" / "wordnet"
    return (
        all((wordnet / name).is_file() for name in (*WORDNET_FILES, "lexnames"))
        and (folder / "corpora" / "stopwords" / "english").is_file()
    )


def find_nltk_data() -> Path:
    """The NLTK data folder to use: ``$NLTK_DATA`` entries first, then :func:`default_nltk_data`.

    Raises:
        AttackEnvironmentError: none of them is complete; names the set-up command.
    """
    candidates = [Path(p) for p in os.environ.get("NLTK_DATA", "").split(os.pathsep) if p]
    candidates.append(default_nltk_data())
    for folder in candidates:
        if nltk_data_complete(folder):
            return folder
    raise AttackEnvironmentError(
        f"no complete NLTK data folder (WordNet + English stopwords) in "
        f"{[str(c) for c in candidates]}; {SETUP_HINT}. trusteq never downloads NLTK data at "
        "run time."
    )


def _refuse_download(info_or_id: Any = None, *args: Any, **kwargs: Any) -> bool:
    """Stand-in for ``nltk.download``: never fetches; True when the package is already on disk."""
    import nltk

    name = str(info_or_id)
    for kind in ("corpora", "tokenizers", "taggers"):
        with contextlib.suppress(LookupError):
            nltk.data.find(f"{kind}/{name}")
            return True
    log.debug("nltk.download(%r) suppressed (offline; trusteq never fetches NLTK data)", name)
    return False


@contextlib.contextmanager
def offline_nltk() -> Iterator[None]:
    """Within the block NLTK reads the project's data folder and ``nltk.download`` never fetches."""
    import nltk

    folder = str(find_nltk_data())
    if folder not in nltk.data.path:
        nltk.data.path.insert(0, folder)
    original = nltk.download
    nltk.download = _refuse_download
    try:
        yield
    finally:
        nltk.download = original


def import_textattack() -> Any:
    """Import TextAttack without any download attempt.

    Puts TextAttack's post-install marker in its cache folder (what its own post-install step
    would leave after downloading NLTK data we already have), imports it under
    :func:`offline_nltk`, and restores ``TOKENIZERS_PARALLELISM`` and ``HF_HOME``, which the
    import overwrites.

    Returns:
        The ``textattack`` module.

    Raises:
        ImportError: TextAttack is not installed (the `attack` extra).
        AttackEnvironmentError: the NLTK data folder is missing.
    """
    if "textattack" in sys.modules:
        return sys.modules["textattack"]
    try:
        import importlib.util

        if importlib.util.find_spec("textattack") is None:
            raise ImportError("textattack")
    except ImportError as error:
        raise ImportError(
            "textattack is not installed; the attacks need the `attack` extra: "
            "`.venv/bin/pip install -c constraints.txt -e '.[attack]'`."
        ) from error
    cache = Path(os.environ.get("TA_CACHE_DIR", Path.home() / ".cache" / "textattack"))
    cache.mkdir(parents=True, exist_ok=True)
    (cache / MARKER_NAME).touch()
    saved = {key: os.environ.get(key) for key in ("TOKENIZERS_PARALLELISM", "HF_HOME")}
    with offline_nltk():
        import textattack
    # Its own handler prints INFO lines ("Goal function ... compatible") for every attack built.
    logging.getLogger("textattack.shared.utils.install").setLevel(logging.WARNING)
    # The import forces tokenizers' thread pool on (oversubscribes small machines) and may
    # point HF_HOME at its own cache: put both back as they were.
    os.environ["TOKENIZERS_PARALLELISM"] = saved["TOKENIZERS_PARALLELISM"] or "false"
    if saved["HF_HOME"] is None:
        os.environ.pop("HF_HOME", None)
    else:
        os.environ["HF_HOME"] = saved["HF_HOME"]
    return textattack


def main(argv: list[str] | None = None) -> int:
    """``python -m trusteq.producers.attack.environment [--target DIR] [--wordnet-dir DIR]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default=None, help="default: <venv>/nltk_data")
    parser.add_argument("--wordnet-dir", default=str(DEBIAN_WORDNET))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        folder = build_nltk_data(args.target, args.wordnet_dir)
    except AttackEnvironmentError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"NLTK data ready: {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
