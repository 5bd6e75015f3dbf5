"""Is the difference real? A paired bootstrap over validation images.

Each model's validation is reduced once to per-image records: COCO's own matching (every
detection's matched / ignored flags at the ten IoU thresholds, per image and category, after
faster-coco-eval's IoUs) and the number of non-ignored ground truths per image and category. A
resample draws the validation images with replacement; an image drawn m times counts m times.
Every model is scored on the same resamples (paired), so the interval of a difference reflects
how much the ranking depends on which images happen to be in the validation set.

A resample never reruns the matching: the detections of a category keep COCO's order (score,
then image, then rank in the image; copies of one detection stay together), so a resample only
reweights them, and the cumulative precision / recall with COCO's 101-point interpolation is a
handful of vectorised numpy passes. With every image drawn once the result is COCO's AP exactly.

    recs = coco_records(gt, predictions)               # once per model (and per iou_type)
    boot = bootstrap({"a": recs_a, "b": recs_b}, resamples=1000, seed=0)
    boot.interval("a", "AP"); boot.difference("a", "b", "AP"); boot.verdict("AP")
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REC_THRS = np.linspace(0.0, 1.0, 101)  # COCO's recall thresholds
EPS = np.spacing(1)
AREA_ALL = (0.0, 1e10)  # COCO's area range 'all'
# COCO's guard in tp / (tp + fp + eps)
NO_DIFFERENCE = "no significant difference on this data"


@dataclass
class CocoRecords:
    """One model's validation as per-image records (area range 'all', maxDets 100).

    Detections are flat arrays in COCO's accumulation order (category, then score descending,
    then image, then rank within the image); `n_gt[i, k]`: non-ignored ground truths of category
    k in image i."""

    image_ids: np.ndarray  # [I]
    cat_ids: np.ndarray  # [K]
    n_gt: np.ndarray  # [I, K] int
    cat: np.ndarray  # [N] category index
    img: np.ndarray  # [N] image index
    score: np.ndarray  # [N]
    tp: np.ndarray  # [T, N] bool: matched to a ground truth at threshold t
    ignored: np.ndarray  # [T, N] bool: matched to an ignored (crowd) ground truth, or ignored
    iou_type: str = "bbox"

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, **{k: v for k, v in vars(self).items()})

    @classmethod
    def load(cls, path: str | Path) -> CocoRecords:
        with np.load(path) as f:
            return cls(**{k: (str(f[k]) if k == "iou_type" else f[k]) for k in f.files})


@dataclass
class ClassifyRecords:
    """A classifier's validation: per image, whether the class is the top-1 / among the top-5."""

    top1: np.ndarray  # [I] bool
    top5: np.ndarray  # [I] bool

    def save(self, path: str | Path) -> None:
        np.savez_compressed(path, top1=self.top1, top5=self.top5)

    @classmethod
    def load(cls, path: str | Path) -> ClassifyRecords:
        with np.load(path) as f:
            return cls(f["top1"].astype(bool), f["top5"].astype(bool))


def coco_records(
    gt: dict | str | Path,
    predictions: list[dict] | str | Path,
    image_ids: list[int] | None = None,
    iou_type: str = "bbox",
) -> CocoRecords:
    """Per-image records of predictions (COCO result dicts) against gt (a COCO dict or file)."""
    from faster_coco_eval import COCOeval_faster

    from .coco import _coco

    coco_gt = _coco(gt)
    dets = (
        json.loads(Path(predictions).read_text())
        if isinstance(predictions, str | Path)
        else predictions
    )
    ids = sorted(image_ids if image_ids is not None else coco_gt.getImgIds())
    if not dets:  # nothing to match: only the ground truth counts
        return _no_detections(coco_gt, ids, iou_type)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes([dict(d) for d in dets])
        ev = COCOeval_faster(coco_gt, coco_dt, iou_type, print_function=lambda *a: None)
        ev.params.imgIds = ids
        ev.evaluate()  # faster-coco-eval's IoUs for every (image, category)
    return records_from_eval(ev, iou_type)


def _no_detections(coco_gt, ids: list[int], iou_type: str) -> CocoRecords:
    cat_ids = sorted(coco_gt.getCatIds())
    n_gt = np.zeros((len(ids), len(cat_ids)), np.int64)
    row, col = {v: i for i, v in enumerate(ids)}, {v: k for k, v in enumerate(cat_ids)}
    for a in coco_gt.anns.values():
        if a["image_id"] in row and not _ignored(a, *AREA_ALL):
            n_gt[row[a["image_id"]], col[a["category_id"]]] += 1
    empty = np.zeros(0, np.int64)
    flags = np.zeros((10, 0), bool)
    return CocoRecords(np.asarray(ids, np.int64), np.asarray(cat_ids, np.int64), n_gt, empty,
                       empty, empty.astype(np.float64), flags, flags, iou_type)  # fmt: skip


def records_from_eval(ev, iou_type: str = "bbox") -> CocoRecords:
    """Records from a COCOeval_faster after evaluate(): COCO's matching replayed on its IoUs."""
    p = ev.params
    img_ids, cat_ids = list(p.imgIds), list(p.catIds)
    thrs = np.asarray(p.iouThrs, np.float64)
    lo, hi = p.areaRng[0]  # 'all'
    max_det = p.maxDets[-1]
    gts = ev.gt_dataset.get_instances(img_ids, cat_ids, True)
    dts = ev.dt_dataset.get_instances(img_ids, cat_ids, True)
    n_gt = np.zeros((len(img_ids), len(cat_ids)), np.int64)
    cols: dict[str, list] = {k: [] for k in ("cat", "img", "rank", "score", "tp", "ig")}
    for i, img_id in enumerate(img_ids):
        for k, cat_id in enumerate(cat_ids):
            g, d = gts[i][k], dts[i][k]
            g_ig = np.array([_ignored(a, lo, hi) for a in g], bool)
            n_gt[i, k] = int((~g_ig).sum())
            if not d:
                continue
            order = np.argsort([-a["score"] for a in d], kind="mergesort")[:max_det]
            d = [d[j] for j in order]
            ious = ev.ious.get((img_id, cat_id), [])
            tp, ig = _match(np.asarray(ious, np.float64), g, g_ig, d, thrs, lo, hi)
            cols["cat"].append(np.full(len(d), k))
            cols["img"].append(np.full(len(d), i))
            cols["rank"].append(np.arange(len(d)))
            cols["score"].append(np.array([a["score"] for a in d], np.float64))
            cols["tp"].append(tp)
            cols["ig"].append(ig)
    if cols["cat"]:
        c = {k: np.concatenate(v, axis=-1) for k, v in cols.items()}
    else:
        c = {k: np.zeros((len(thrs), 0) if k in ("tp", "ig") else 0) for k in cols}
    # COCO's order: per category a stable sort by score of the images' detections in image order
    order = np.lexsort((c["rank"], c["img"], -c["score"], c["cat"]))
    return CocoRecords(
        np.asarray(img_ids, np.int64), np.asarray(cat_ids, np.int64), n_gt,
        c["cat"][order].astype(np.int64), c["img"][order].astype(np.int64),
        c["score"][order].astype(np.float64), c["tp"][:, order].astype(bool),
        c["ig"][:, order].astype(bool), iou_type,
    )  # fmt: skip


def _ignored(ann: dict, lo: float, hi: float) -> bool:
    """COCO's ignore rule for a ground truth: crowd (pycocotools lets iscrowd decide over a given
    `ignore` field) or an area outside the range."""
    return bool(ann.get("iscrowd", 0)) or not lo <= ann["area"] <= hi


def _match(ious, g, g_ig, d, thrs, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """COCO's greedy matching of one image and category, all IoU thresholds at once.

    Detections by descending score each take, per threshold, the free ground truth of highest
    IoU (>= the threshold; ties: the later one), non-ignored ground truths first; crowd ground
    truths can take any number of detections. Returns tp and ignored flags [T, D]."""
    n_t, n_d = len(thrs), len(d)
    tp = np.zeros((n_t, n_d), bool)
    ig = np.zeros((n_t, n_d), bool)
    if len(g) and ious.size:
        gi = np.argsort(g_ig, kind="mergesort")  # non-ignored ground truths first
        ious, g_ig = ious[:, gi], g_ig[gi]
        crowd = np.array([bool(g[j].get("iscrowd", 0)) for j in gi], bool)
        taken = np.zeros((n_t, len(g)), bool)
        thr = np.minimum(thrs, 1 - 1e-10)[:, None]
        rows = np.arange(n_t)
        for j in np.flatnonzero((ious >= thr.min()).any(1)):  # the others never match
            ok = (~taken | crowd) & (ious[j] >= thr)  # [T, G]
            first = ok & ~g_ig  # a non-ignored match wins over any ignored one
            use = np.where(first.any(1, keepdims=True), first, ok)
            vals = np.where(use, ious[j], -1.0)
            m = len(g) - 1 - np.argmax(vals[:, ::-1], axis=1)  # the last of the best
            hit = use[rows, m]
            tp[hit, j] = True
            ig[hit, j] = g_ig[m[hit]]
            taken[rows[hit], m[hit]] = True
    area = np.array([a["area"] for a in d], np.float64)
    ig |= ~tp & ~((area >= lo) & (area <= hi))[None]  # unmatched, outside the area range
    return tp, ig


DENSE_LIMIT = 4_000_000  # images x true positives up to which false positives go by matmul


@dataclass
class _Compiled:
    """What a resample needs of one model's CocoRecords, per (threshold, category) segment in
    COCO's order. Only true positives are points of the precision-recall curve that can matter
    (any other detection adds a point of the same recall and lower precision); the detections
    before a true positive only add to its false positive count."""

    seg: np.ndarray  # [P] t * K + k of each true positive, nondecreasing
    img: np.ndarray  # [P] its image
    prev: np.ndarray  # [P] index (into a zero-padded cumsum) just before its segment's start
    first: np.ndarray  # [P] bool: the first true positive of its segment
    offset: np.ndarray  # [P] 2 * (segments after its own): separates segments in a cummax
    fp_before: np.ndarray | None  # [I, P] false positives of each image before it (dense path)
    fp_img: np.ndarray  # [F] image of each false positive (for the large-set path)
    fp_next: np.ndarray  # [F] the true positive it precedes (index into P)
    n_gt: np.ndarray  # [I, K]
    n_t: int
    prefix: str


def _compile(rec: CocoRecords, dense_limit: int = DENSE_LIMIT) -> _Compiled:
    n_t, n_k = rec.tp.shape[0], len(rec.cat_ids)
    n_i = len(rec.image_ids)
    tp = (rec.tp & ~rec.ignored).ravel()
    keep = (~rec.ignored).ravel()
    seg = (np.arange(n_t)[:, None] * n_k + rec.cat[None]).ravel()  # rows are in category order
    img = np.broadcast_to(rec.img[None], rec.tp.shape).ravel()
    cum = np.cumsum(tp)
    upto = np.cumsum(np.bincount(seg, weights=tp, minlength=n_t * n_k))  # true positives <= seg
    keep &= (upto[seg] - cum + tp) > 0  # a true positive at or after it in its segment
    seg, img, tp = seg[keep], img[keep], tp[keep]
    pos = np.flatnonzero(tp)
    fp = np.flatnonzero(~tp)
    fp_next = np.searchsorted(pos, fp)  # each segment ends with a true positive
    seg_p = seg[pos]
    first = np.r_[True, seg_p[1:] != seg_p[:-1]] if len(pos) else np.zeros(0, bool)
    starts = np.flatnonzero(first)
    prev = np.repeat(starts, np.diff(np.r_[starts, len(pos)]))
    rank = np.cumsum(first) - 1  # the segment's rank among those with true positives
    offset = 2.0 * (len(starts) - 1 - rank)
    fp_before = None
    if n_i * len(pos) <= dense_limit:
        runs = np.zeros((n_i, len(pos)))  # false positives of each image right before each tp
        np.add.at(runs, (img[fp], fp_next), 1.0)
        c = np.concatenate([np.zeros((n_i, 1)), np.cumsum(runs, axis=1)], axis=1)
        fp_before = c[:, 1:] - c[:, prev]  # within the segment, up to the true positive
    prefix = "mask_" if rec.iou_type == "segm" else ""
    return _Compiled(seg_p, img[pos], prev, first, offset, fp_before, img[fp], fp_next,
                     rec.n_gt.astype(np.float64), n_t, prefix)  # fmt: skip


def _segment_cumsum(x: np.ndarray, prev: np.ndarray) -> np.ndarray:
    c = np.cumsum(x, axis=1)
    return c - np.concatenate([np.zeros((len(x), 1)), c], axis=1)[:, prev]


def _false_positives(c: _Compiled, counts: np.ndarray) -> np.ndarray:
    """[B, P] weighted false positives before each true positive in its segment."""
    if c.fp_before is not None:
        return counts @ c.fp_before
    runs = np.zeros((len(counts), len(c.seg)))
    for b in range(len(counts)):  # large validation sets: per resample, no [I, P] matrix
        runs[b] = np.bincount(c.fp_next, weights=counts[b, c.fp_img], minlength=len(c.seg))
    return _segment_cumsum(runs, c.prev)


def _coco_ap(c: _Compiled, counts: np.ndarray) -> dict[str, np.ndarray]:
    """AP, AP50 and AP75 of one model for each row of counts [B, I] (times each image is drawn).

    COCO's interpolated precision at recall threshold r is the best precision at a recall >= r;
    summed over the 101 thresholds that is, per true positive j of a segment, its suffix-max
    precision times the number of thresholds its recall newly reaches."""
    ng = counts @ c.n_gt  # [B, K] non-ignored ground truths of each category
    n_k = ng.shape[1]
    ctp = _segment_cumsum(counts[:, c.img], c.prev)
    cfp = _false_positives(c, counts)
    npig = ng[:, c.seg % n_k]
    rc = np.divide(ctp, npig, out=np.zeros_like(ctp), where=npig > 0)
    pr = ctp / (ctp + cfp + EPS)
    k = np.searchsorted(REC_THRS, rc.ravel(), side="right").reshape(rc.shape)
    dk = k - np.where(c.first, 0, np.roll(k, 1, axis=1))
    best = np.maximum.accumulate((pr + c.offset)[:, ::-1], axis=1)[:, ::-1] - c.offset
    valid = ng > 0  # COCO leaves out categories without ground truth (in this resample)
    contrib = best * dk * valid[:, c.seg % n_k]
    n_valid = valid.sum(1) * len(REC_THRS)
    t = c.seg // n_k

    def mean(total, n):
        return np.where(n > 0, total / np.maximum(n, 1), -1.0)

    return {
        f"{c.prefix}AP": mean(contrib.sum(1), n_valid * c.n_t),
        f"{c.prefix}AP50": mean(contrib[:, t == 0].sum(1), n_valid),
        f"{c.prefix}AP75": mean(contrib[:, t == 5].sum(1), n_valid),
    }


def _metrics(records, counts: np.ndarray, chunk: int = 1_000_000) -> dict[str, np.ndarray]:
    """Every metric of one model (a list of records) for each row of counts [B, I]."""
    out: dict[str, np.ndarray] = {}
    for rec in records:
        if isinstance(rec, ClassifyRecords):
            n = max(len(rec.top1), 1)
            out["top1"] = counts @ rec.top1.astype(np.float64) / n
            out["top5"] = counts @ rec.top5.astype(np.float64) / n
            continue
        c = _compile(rec)
        step = max(1, chunk // max(len(c.seg), 1))
        parts = [_coco_ap(c, counts[i : i + step]) for i in range(0, len(counts), step)]
        out |= {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    return out


def resample_counts(n_images: int, resamples: int, seed: int) -> np.ndarray:
    """[resamples, n_images]: how often each image is drawn in each resample (seeded)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n_images, (resamples, n_images))
    flat = (idx + np.arange(resamples)[:, None] * n_images).ravel()
    return np.bincount(flat, minlength=resamples * n_images).reshape(resamples, n_images)


@dataclass
class BootstrapResult:
    """Point metrics and their bootstrap distributions, for models scored on the same resamples."""

    point: dict[str, dict[str, float]]  # model -> metric -> value on the validation set
    samples: dict[str, dict[str, np.ndarray]]  # model -> metric -> [resamples]
    resamples: int
    seed: int
    level: float = 0.95
    images: int = 0
    notes: list[str] = field(default_factory=list)

    def interval(self, model: str, metric: str) -> tuple[float, float]:
        """The percentile interval of a model's metric."""
        return _percentile(self.samples[model][metric], self.level)

    def difference(self, a: str, b: str, metric: str) -> tuple[float, float, float]:
        """a - b on the validation set and its percentile interval over the paired resamples."""
        d = self.samples[a][metric] - self.samples[b][metric]
        return (self.point[a][metric] - self.point[b][metric], *_percentile(d, self.level))

    def top_two(self, metric: str) -> tuple[str, str]:
        ranked = sorted(self.point, key=lambda m: -self.point[m][metric])
        return ranked[0], ranked[1]

    def verdict(self, metric: str) -> str:
        """'A is better than B' when the interval of the difference of the top two excludes 0."""
        if len(self.point) < 2:
            return "one model: nothing to compare"
        a, b = self.top_two(metric)
        diff, lo, hi = self.difference(a, b, metric)
        span = (f"{metric} difference {_signed(diff)}, {self.level:.0%} interval "
                f"[{_signed(lo)}, {_signed(hi)}]")  # fmt: skip
        if lo > 0:
            return f"{a} is better than {b} ({span})"
        if hi < 0:  # possible only for a skewed distribution: the runner-up wins the resamples
            return f"{b} is better than {a} ({span})"
        return f"{a} vs {b}: {NO_DIFFERENCE} ({span})"

    def to_dict(self) -> dict:
        out = {"resamples": self.resamples, "seed": self.seed, "level": self.level,
               "images": self.images, "models": {}}  # fmt: skip
        for m, metrics in self.point.items():
            out["models"][m] = {k: {"value": v, "interval": list(self.interval(m, k))}
                                for k, v in metrics.items()}  # fmt: skip
        return out


def _signed(x: float) -> str:
    """+0.0123; a value that would print as +0.0000 but is not 0 keeps its digits (+2.1e-05)."""
    return f"{x:+.4f}" if x == 0 or abs(x) >= 5e-5 else f"{x:+.1e}"


def _percentile(x: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(x, [tail, 100 - tail])
    return float(lo), float(hi)


def bootstrap(
    records: dict[str, CocoRecords | ClassifyRecords | list],
    resamples: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> BootstrapResult:
    """Paired bootstrap of every model's metrics over the validation images.

    records: model -> its records (a list for several, e.g. box and mask records of a
    segmentation model); all on the same validation images in the same order."""
    if resamples < 1:
        raise ValueError(f"resamples={resamples}: use at least 1")
    recs = {m: (r if isinstance(r, list | tuple) else [r]) for m, r in records.items()}
    n = _common_images(recs)
    counts = resample_counts(n, resamples, seed).astype(np.float64)
    counts = np.concatenate([np.ones((1, n)), counts])  # row 0: the validation set itself
    point, samples = {}, {}
    for m, rs in recs.items():
        values = _metrics(rs, counts)
        point[m] = {k: float(v[0]) for k, v in values.items()}
        samples[m] = {k: v[1:] for k, v in values.items()}
    return BootstrapResult(point, samples, resamples, seed, level, n)


def _common_images(recs: dict[str, list]) -> int:
    sizes, ids = set(), None
    for m, rs in recs.items():
        for r in rs:
            if isinstance(r, CocoRecords):
                if ids is not None and not np.array_equal(ids, r.image_ids):
                    raise ValueError(f"bootstrap: {m} was validated on other images than the rest")
                ids = r.image_ids
                sizes.add(len(r.image_ids))
            else:
                sizes.add(len(r.top1))
    if len(sizes) != 1:
        raise ValueError(f"bootstrap: the models were validated on different numbers of images "
                         f"({sorted(sizes)}); pair them on the same validation set")  # fmt: skip
    n = sizes.pop()
    if n < 2:
        raise ValueError("bootstrap: needs at least 2 validation images")
    return n
