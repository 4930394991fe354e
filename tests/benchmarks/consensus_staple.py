"""STAPLE on BU-BIL's expert masks: our numpy STAPLE against SimpleITK's STAPLEImageFilter, side by side.

    python tests/benchmarks/consensus_staple.py [B01 B02 ...]

`staple_figures()` is what bench_consensus.py reads. Masks are loaded before any clock starts;
each side is timed on the fusion alone (ours from numpy arrays, SimpleITK's Execute on images
already converted), with SimpleITK's default thread count. The last line printed is one JSON object.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from PIL import Image

REPOSITORY = Path(__file__).resolve().parents[2]
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))
from labeling.consensus.masks import dice, staple  # noqa: E402

SHARED_DATA = Path(os.environ.get("CARDIOCROWD_SHARED_DATA", REPOSITORY.parent / "shared" / "data"))
BU_BIL = SHARED_DATA / "images" / "bu_bil_dataset1"


def expert_masks(image: str) -> np.ndarray:
    """The expert masks of one BU-BIL image, (raters, rows, columns); black is foreground."""
    paths = sorted(BU_BIL.glob(f"ExpertsAnnotations/Person*/seg_{image}.png"))
    if not paths:
        raise FileNotFoundError(f"no expert masks for {image} under {BU_BIL}")
    return np.stack([np.asarray(Image.open(path).convert("L")) < 128 for path in paths])


def staple_figures(images: list[str] | None = None) -> dict:
    """Wall seconds of our STAPLE and SimpleITK's over the images (all of B01–B24 by default),
    the smallest Dice between the two thresholded (0.5) outputs, and per-image details."""
    names = images or sorted(path.stem.removeprefix("seg_") for path in (BU_BIL / "GoldStandard").glob("seg_*.png"))
    seconds = reference_seconds = 0.0
    per_image = []
    for name in names:
        masks = expert_masks(name)
        inputs = [sitk.GetImageFromArray(mask.astype(np.uint8)) for mask in masks]
        fusion = sitk.STAPLEImageFilter()
        fusion.SetForegroundValue(1.0)

        started = time.perf_counter()
        result = staple(masks)
        ours = time.perf_counter() - started
        started = time.perf_counter()
        reference = sitk.GetArrayFromImage(fusion.Execute(inputs))
        theirs = time.perf_counter() - started

        seconds, reference_seconds = seconds + ours, reference_seconds + theirs
        per_image.append({
            "image": name, "raters": len(masks), "pixels": int(masks[0].size),
            "seconds": round(ours, 4), "reference_seconds": round(theirs, 4),
            "dice": dice(result.mask, reference > 0.5),
            "max_probability_difference": float(np.abs(result.probability - reference).max()),
            "max_sensitivity_difference": float(np.abs(result.sensitivity - fusion.GetSensitivity()).max()),
            "max_specificity_difference": float(np.abs(result.specificity - fusion.GetSpecificity()).max()),
            "iterations": result.iterations, "reference_iterations": fusion.GetElapsedIterations(),
        })
    return {
        "seconds": round(seconds, 4),
        "reference_seconds": round(reference_seconds, 4),
        "dice_vs_reference": min(row["dice"] for row in per_image),
        "max_sensitivity_difference": max(row["max_sensitivity_difference"] for row in per_image),
        "images": [row["image"] for row in per_image],
        "per_image": per_image,
        "reference": f"SimpleITK {sitk.Version.VersionString()}, "
                     f"{sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()} threads",
    }


if __name__ == "__main__":
    print(json.dumps(staple_figures(sys.argv[1:] or None)))
