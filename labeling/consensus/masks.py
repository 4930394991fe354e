"""Consensus of several raters' masks and contours on one image. Pure module: numpy only.

- `majority_vote`: per-pixel share of raters; the hard mask keeps pixels more than half marked.
- `staple`: STAPLE (Warfield, Zou and Wells, IEEE TMI 2004), an EM estimate of each rater's
  sensitivity and specificity and of the per-pixel posterior of the true mask. It follows ITK's
  STAPLEImageFilter (what SimpleITK runs): the posterior starts as the raters' share, the prior is
  the mean foreground fraction times a confidence weight, each round is an M-step (sensitivity,
  specificity) then an E-step (posterior), and it stops once every rater's squared change of
  sensitivity and specificity is at most 1e-14 ("seven digits").
- Contours are rasterized on the image grid (`rasterize_polygon`), brush masks decoded
  (`decode_rle`), so every answer becomes a boolean mask before fusion (`answer_mask`).

Speed: the E and M steps depend on a pixel only through which raters marked it, so pixels are
grouped by that pattern once (at most 2**raters groups, in practice a few hundred) and EM runs on
the groups with their pixel counts as weights. This gives the same numbers as a per-pixel loop,
and a 1024 × 811 image with 10 raters takes tens of milliseconds.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

CONVERGED_SQUARED_CHANGE = 1e-14  # ITK's min_rms_error: squared change of every p and q
DEFAULT_MAX_ITERATIONS = 1000  # ITK's default is unbounded; real rater sets converge in tens


@dataclass(frozen=True)
class StapleResult:
    """What STAPLE estimated for one image."""

    probability: np.ndarray  # float64, the posterior that each pixel is truly foreground
    mask: np.ndarray  # bool, probability above the threshold
    sensitivity: np.ndarray  # per rater: share of true foreground the rater marked (p)
    specificity: np.ndarray  # per rater: share of true background the rater left unmarked (q)
    prior: float  # the prior foreground probability the E-step used (g_t)
    iterations: int  # EM rounds run (ITK's ElapsedIterations is one less once converged)
    is_converged: bool


def majority_vote(masks: Sequence[np.ndarray] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The share of raters marking each pixel and the hard mask (share > 0.5: a tie is background)."""
    stack = _stack(masks)
    share = stack.mean(axis=0, dtype=np.float64)
    return share, share > 0.5


def staple(
    masks: Sequence[np.ndarray] | np.ndarray,
    *,
    prior: float | None = None,
    confidence_weight: float = 1.0,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
    threshold: float = 0.5,
) -> StapleResult:
    """Fuse raters' binary masks (same shape, nonzero = foreground) with STAPLE.

    `prior` is the foreground probability of a pixel before seeing the raters; by default, as in
    ITK, the mean foreground fraction over raters times `confidence_weight`. Raises ValueError on
    no masks, masks of different shapes or a prior outside [0, 1]."""
    stack = _stack(masks)
    raters = stack.shape[0]
    patterns, counts, inverse = _patterns(stack.reshape(raters, -1))
    marked = patterns.astype(np.float64)  # (groups, raters): 1 where the rater marked the group
    counts = counts.astype(np.float64)
    # The posterior starts as the share of raters, as ITK's does.
    posterior = marked.mean(axis=1)
    if prior is None:
        prior = float(counts @ posterior / counts.sum()) * confidence_weight
    if not 0.0 <= prior <= 1.0:
        raise ValueError(f"the prior foreground probability must lie in [0, 1], not {prior}")

    last_sensitivity = last_specificity = np.full(raters, -10.0)
    iterations, is_converged = 0, False
    while iterations < max_iterations:
        sensitivity, specificity = _performance(marked, counts, posterior)
        posterior = _posterior(marked, sensitivity, specificity, prior)
        iterations += 1
        # ITK skips the test on its first round (its last values start at -10, so it would fail anyway).
        is_converged = iterations > 1 and bool(
            np.all((sensitivity - last_sensitivity) ** 2 <= CONVERGED_SQUARED_CHANGE)
            and np.all((specificity - last_specificity) ** 2 <= CONVERGED_SQUARED_CHANGE))
        last_sensitivity, last_specificity = sensitivity, specificity
        if is_converged:
            break
    probability = posterior[inverse].reshape(stack.shape[1:])
    return StapleResult(probability=probability, mask=probability > threshold, sensitivity=last_sensitivity,
                        specificity=last_specificity, prior=prior, iterations=iterations, is_converged=is_converged)


def _performance(marked: np.ndarray, counts: np.ndarray, posterior: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """M-step: each rater's sensitivity p and specificity q under the current posterior."""
    foreground = counts * posterior  # expected true-foreground pixels per group
    background = counts * (1.0 - posterior)
    with np.errstate(invalid="ignore", divide="ignore"):
        sensitivity = (marked.T @ foreground) / foreground.sum()
        specificity = ((1.0 - marked).T @ background) / background.sum()
    # No expected foreground (or background) at all: nothing can be missed, so the rater is perfect on it.
    # Rounding can put a perfect rater a hair above 1, where log(1 - q) would be undefined.
    return (np.clip(np.nan_to_num(sensitivity, nan=1.0), 0.0, 1.0),
            np.clip(np.nan_to_num(specificity, nan=1.0), 0.0, 1.0))


def _posterior(marked: np.ndarray, sensitivity: np.ndarray, specificity: np.ndarray, prior: float) -> np.ndarray:
    """E-step: P(true foreground | the raters' marks), in log space so that many raters cannot underflow."""
    is_marked = marked > 0.5
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # exp overflow: posterior 0, as meant
        log_foreground = np.log(prior) + np.where(is_marked, np.log(sensitivity), np.log1p(-sensitivity)).sum(axis=1)
        log_background = np.log1p(-prior) + np.where(is_marked, np.log1p(-specificity), np.log(specificity)).sum(axis=1)
        difference = log_background - log_foreground
        posterior = 1.0 / (1.0 + np.exp(difference))
    # Both likelihoods zero (a perfect rater contradicted by another perfect one): ITK would divide 0 by 0;
    # fall back on the share of raters.
    undefined = np.isnan(posterior)
    posterior[undefined] = marked[undefined].mean(axis=1)
    return posterior


def _patterns(flat: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Group pixels by which raters marked them: (patterns (groups, raters) bool, pixels per group,
    each pixel's group)."""
    raters = flat.shape[0]
    if raters > 62:
        # Too many raters for one integer per pixel: group rows of packed bits (slower, rare).
        packed = np.packbits(flat, axis=0).T
        _, first, inverse, counts = np.unique(packed, axis=0, return_index=True, return_inverse=True,
                                              return_counts=True)
        return flat[:, first].T.copy(), counts, inverse.ravel()
    codes = np.zeros(flat.shape[1], np.int64)
    for rater in range(raters):  # a loop over raters, not pixels: each step is one vector operation
        codes |= flat[rater].astype(np.int64) << rater
    if raters <= 20:
        # Counting into 2**raters bins is linear; sorting (np.unique) costs several times more.
        counts = np.bincount(codes, minlength=1 << raters)
        present = np.flatnonzero(counts)
        group = np.zeros(1 << raters, np.int64)
        group[present] = np.arange(len(present))
        inverse, counts = group[codes], counts[present]
    else:
        present, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
    patterns = ((present[:, None] >> np.arange(raters)) & 1).astype(bool)
    return patterns, counts, inverse.ravel()


def _stack(masks: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    if isinstance(masks, np.ndarray):
        stack = masks
    else:
        shapes = {np.shape(mask) for mask in masks}
        if len(shapes) > 1:
            raise ValueError(f"masks of different shapes: {sorted(shapes)}")
        stack = np.stack([np.asarray(mask) for mask in masks]) if masks else np.empty((0,))
    if stack.ndim < 2 or stack.shape[0] == 0:
        raise ValueError("give at least one mask, stacked as (raters, rows, columns[, ...])")
    return stack.astype(bool, copy=False)


# --- answers to masks -------------------------------------------------------------------------


def rasterize_polygon(points: Sequence[Sequence[float]], rows: int, columns: int) -> np.ndarray:
    """A closed polygon ([x, y] pixel coordinates, x = column, y = row) as a (rows, columns) mask.

    A pixel is inside when its centre (x = column, y = row) is, by the even-odd rule (so a freehand
    line crossing itself leaves a hole, as in SVG's evenodd). Centres on an edge count for the left
    and top edges only, so an axis-aligned square from 0 to 10 covers exactly 10 × 10 pixels and
    the pixel count equals the shoelace area that the schema reports."""
    vertices = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    mask = np.zeros((rows, columns), bool)
    if len(vertices) < 3 or rows == 0 or columns == 0:
        return mask
    start, end = vertices, np.roll(vertices, -1, axis=0)
    first_row = max(0, int(np.ceil(vertices[:, 1].min())))
    last_row = min(rows - 1, int(np.ceil(vertices[:, 1].max())) - 1)
    if last_row < first_row:
        return mask
    y = np.arange(first_row, last_row + 1, dtype=np.float64)[:, None]  # (scanlines, 1)
    low, high = np.minimum(start[:, 1], end[:, 1]), np.maximum(start[:, 1], end[:, 1])
    crosses = (low <= y) & (y < high)  # half-open in y: a vertex on the scanline counts once
    with np.errstate(divide="ignore", invalid="ignore"):
        x = start[:, 0] + (y - start[:, 1]) * (end[:, 0] - start[:, 0]) / (end[:, 1] - start[:, 1])
    line, edge = np.nonzero(crosses)
    # A centre at column c lies right of the crossings x <= c; it is inside when that count is odd.
    first_column = np.clip(np.ceil(x[line, edge]), 0, columns).astype(np.int64)
    toggles = np.zeros((len(y), columns + 1), np.int64)
    np.add.at(toggles, (line, first_column), 1)
    mask[first_row:last_row + 1] = (np.cumsum(toggles[:, :columns], axis=1) % 2).astype(bool)
    return mask


def decode_rle(runs: Sequence[int], rows: int, columns: int) -> np.ndarray:
    """Run lengths alternating background/foreground, row-major, starting with background, as a
    (rows, columns) mask. Raises ValueError when the runs do not cover the image exactly."""
    lengths = np.asarray(runs, dtype=np.int64)
    if lengths.ndim != 1 or (lengths < 0).any() or lengths.sum() != rows * columns:
        raise ValueError(f"the runs cover {int(lengths.sum())} pixels, the image has {rows * columns}")
    values = np.zeros(len(lengths), bool)
    values[1::2] = True
    return np.repeat(values, lengths).reshape(rows, columns)


def encode_rle(mask: np.ndarray) -> list[int]:
    """The inverse of `decode_rle`: run lengths of a 2-D mask, starting with background (maybe 0)."""
    flat = np.asarray(mask, bool).ravel()
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], changes, [flat.size]))
    runs = np.diff(bounds).tolist()
    return [0, *runs] if flat.size and flat[0] else runs


def answer_mask(answer: Mapping, rows: int, columns: int) -> np.ndarray:
    """A brush_mask, contour, freehand or bounding_box answer as a (rows, columns) mask on the image
    grid. Raises ValueError for a brush mask drawn on another grid."""
    if "rle" in answer:
        if (answer["rows"], answer["columns"]) != (rows, columns):
            raise ValueError(f"the mask is {answer['rows']}×{answer['columns']}, the image {rows}×{columns}")
        return decode_rle(answer["rle"], rows, columns)
    if "points" in answer:
        return rasterize_polygon(answer["points"], rows, columns)
    x, y, width, height = answer["x"], answer["y"], answer["width"], answer["height"]
    return rasterize_polygon([[x, y], [x + width, y], [x + width, y + height], [x, y + height]], rows, columns)


def dice(first: np.ndarray, second: np.ndarray) -> float:
    """Dice overlap of two boolean masks; 1.0 when both are empty."""
    first, second = np.asarray(first, bool), np.asarray(second, bool)
    total = int(first.sum()) + int(second.sum())
    return 2.0 * int(np.count_nonzero(first & second)) / total if total else 1.0


# --- contours: caps, tracing back, fusion ------------------------------------------------------

# A contour or freehand answer with more points than this is refused, not rasterized: rasterizing
# costs scanlines × edges, and a worker's hand never needs this many (a traced echo LV has ~100).
MAX_CONTOUR_POINTS = 10_000
# Without an image grid (answers that name no known image) the grid is the points' extent, cut at
# this many pixels a side: a far-away point cannot make it allocate more.
MAX_GRID_SIDE = 4096
# Fusing refuses an image past MAX_GRID_SIDE² pixels (STAPLE keeps a few int64 per pixel: ~0.5 GB
# there) or past this many pixels × raters (the stacked bool masks: 256 MB).
MAX_FUSED_PIXELS = 256 * 1024 * 1024


@dataclass(frozen=True)
class ContourFusion:
    """STAPLE of several raters' outlines of one image, traced back to an outline."""

    points: list[list[float]]  # the fused mask's largest component, [x, y] pixel coordinates
    mask: np.ndarray  # bool (rows, columns): the fused mask, every component
    sensitivity: np.ndarray  # per rater
    specificity: np.ndarray  # per rater
    iterations: int
    is_converged: bool


def checked_points(points: Sequence[Sequence[float]]) -> np.ndarray:
    """A contour's vertices as a (points, 2) float array. Raises ValueError past MAX_CONTOUR_POINTS
    or on non-finite coordinates."""
    if len(points) > MAX_CONTOUR_POINTS:
        raise ValueError(f"a contour of {len(points)} points is refused: at most {MAX_CONTOUR_POINTS}")
    vertices = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if not np.isfinite(vertices).all():
        raise ValueError("contour coordinates must be finite numbers")
    return vertices


def outline_grid(outlines: Sequence[Sequence[Sequence[float]]]) -> tuple[int, int]:
    """(rows, columns) holding every outline from the image origin, for answers whose image grid is
    unknown; each side at most MAX_GRID_SIDE (what lies beyond is cut off by rasterizing)."""
    corners = np.concatenate([checked_points(points) for points in outlines])
    columns, rows = np.clip(np.ceil(corners.max(axis=0)) + 1, 1, MAX_GRID_SIDE).astype(int)
    return int(rows), int(columns)


def fuse_contours(outlines: Sequence[Sequence[Sequence[float]]], rows: int, columns: int, *,
                  tolerance: float = 0.75) -> ContourFusion:
    """Rasterize each rater's closed outline on the image grid (rows × columns), fuse the masks with
    STAPLE and trace the fused mask's largest component back to an outline, simplified within
    `tolerance` pixels. Raises ValueError for no outlines, an outline past MAX_CONTOUR_POINTS or a
    grid past the caps (MAX_GRID_SIDE², MAX_FUSED_PIXELS with the raters)."""
    if not outlines:
        raise ValueError("give at least one outline")
    if (rows <= 0 or columns <= 0 or rows * columns > MAX_GRID_SIDE ** 2
            or rows * columns * len(outlines) > MAX_FUSED_PIXELS):
        raise ValueError(f"{len(outlines)} outlines on a {columns}×{rows} grid are refused (at most "
                         f"{MAX_GRID_SIDE}² pixels and {MAX_FUSED_PIXELS} pixels × raters)")
    masks = np.stack([rasterize_polygon(checked_points(points), rows, columns) for points in outlines])
    fused = staple(masks)
    points = trace_contour(fused.mask, tolerance=tolerance)
    return ContourFusion(points=points, mask=fused.mask, sensitivity=fused.sensitivity,
                         specificity=fused.specificity, iterations=fused.iterations,
                         is_converged=fused.is_converged)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected component of a 2-D mask with its holes filled (an outline has no
    holes); empty for an empty mask. Ties go to the component met first in row-major order."""
    from scipy import ndimage  # scipy is a dependency; imported here to keep `import masks` light

    labels, count = ndimage.label(np.asarray(mask, bool))
    if count == 0:
        return np.zeros_like(mask, dtype=bool)
    sizes = np.bincount(labels.ravel())[1:]
    return ndimage.binary_fill_holes(labels == int(np.argmax(sizes)) + 1)


# Directed pixel edges around a foreground pixel at (row, column), the interior on the right when
# walking with y downwards: (neighbour offset that must be background, start corner, end corner).
# Corner (i, j) is the top-left corner of pixel (i, j): the point x = j, y = i, since by
# rasterize_polygon's edge rule pixel (i, j) is what the square [j, j + 1) × [i, i + 1) covers.
_EDGES = (((-1, 0), (0, 0), (0, 1)),   # top: left to right
          ((0, 1), (0, 1), (1, 1)),    # right: downwards
          ((1, 0), (1, 1), (1, 0)),    # bottom: right to left
          ((0, -1), (1, 0), (0, 0)))   # left: upwards


def trace_contour(mask: np.ndarray, *, tolerance: float = 0.75) -> list[list[float]]:
    """The outer outline of a mask's largest component (see largest_component) as [x, y] points:
    the pixel edges around it (so rasterize_polygon gives the mask back exactly: a square drawn from
    0 to 10 comes back as itself), straight runs merged, then simplified by Douglas-Peucker within
    `tolerance` pixels (0 keeps the staircase). Points lie in [0, columns] × [0, rows], as answers'
    do. [] for an empty mask."""
    component = largest_component(mask)
    if not component.any():
        return []
    rows, columns = component.shape
    padded = np.pad(component, 1)
    following: dict[tuple[int, int], list[tuple[int, int]]] = {}
    for (d_row, d_column), start, end in _EDGES:
        neighbour = padded[1 + d_row:1 + d_row + rows, 1 + d_column:1 + d_column + columns]
        pixel_rows, pixel_columns = np.nonzero(component & ~neighbour)
        for row, column in zip(pixel_rows.tolist(), pixel_columns.tolist(), strict=True):
            following.setdefault((row + start[0], column + start[1]), []).append(
                (row + end[0], column + end[1]))
    # Start at the top-left corner of the first pixel in row-major order: it is on the outer boundary.
    first = tuple(int(v) for v in np.argwhere(component)[0])
    corner, ring = first, []
    for _ in range(sum(len(ends) for ends in following.values())):  # a filled component: one cycle
        ring.append(corner)
        corner = following[corner].pop()
        if corner == first:
            break
    vertices = np.array([[column, row] for row, column in ring], dtype=np.float64)
    vertices = _merge_straight(vertices)
    if tolerance > 0 and len(vertices) > 4:
        vertices = _simplify_closed(vertices, tolerance)
    return vertices.tolist()


def _merge_straight(vertices: np.ndarray) -> np.ndarray:
    """Drop vertices where the outline goes straight on."""
    before = vertices - np.roll(vertices, 1, axis=0)
    after = np.roll(vertices, -1, axis=0) - vertices
    turns = before[:, 0] * after[:, 1] - before[:, 1] * after[:, 0] != 0
    return vertices[turns]


def _simplify_closed(vertices: np.ndarray, tolerance: float) -> np.ndarray:
    """Douglas-Peucker on a closed outline: split at the vertex farthest from the first, simplify
    both halves (iteratively, no recursion limit)."""
    far = int(np.argmax(np.linalg.norm(vertices - vertices[0], axis=1)))
    loop = np.vstack([vertices, vertices[:1]])
    keep = np.zeros(len(loop), bool)
    keep[[0, far, len(loop) - 1]] = True
    stack = [(0, far), (far, len(loop) - 1)]
    while stack:
        start, end = stack.pop()
        if end - start < 2:
            continue
        segment = loop[end] - loop[start]
        inner = loop[start + 1:end] - loop[start]
        length = np.hypot(*segment)
        distance = (np.abs(segment[0] * inner[:, 1] - segment[1] * inner[:, 0]) / length if length > 0
                    else np.linalg.norm(inner, axis=1))
        farthest = int(np.argmax(distance))
        if distance[farthest] > tolerance:
            middle = start + 1 + farthest
            keep[middle] = True
            stack += [(start, middle), (middle, end)]
    return loop[:-1][keep[:-1]]
