"""The dataset check report: every problem found, by file, with what was done about it."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

# kind -> (what it means, what yoloarena does). Actions: the image or the row is kept, fixed,
# or dropped; nothing is dropped without a Problem in the report.
KINDS: dict[str, tuple[str, str]] = {
    "image.missing": ("image file listed but not found", "image dropped"),
    "image.empty": ("zero-byte image file", "image dropped"),
    "image.corrupt": ("image cannot be decoded", "image dropped"),
    "image.truncated": ("JPEG without its end marker (truncated)", "image kept, decoded partially"),
    "image.unsupported": ("not an image format yoloarena reads", "file ignored"),
    "image.too_small": ("image smaller than 10 px", "image dropped"),
    "image.too_large": (
        "image over the pixel limit (decompression bomb or damaged header; raise "
        "YOLOARENA_MAX_IMAGE_PIXELS if it is genuine)",
        "image dropped",
    ),
    "image.no_label": ("no labels", "image kept as a background"),
    "label.orphan": ("label file without an image", "file ignored"),
    "label.unreadable": ("label file cannot be read as text", "image dropped"),
    "label.columns": ("row without 5 columns (class cx cy w h) or a polygon", "row dropped"),
    "label.non_numeric": ("value that is not a number", "row dropped"),
    "label.non_finite": ("NaN or infinite value", "row dropped"),
    "label.class_negative": ("negative class id", "row dropped"),
    "label.class_not_integer": ("class id that is not an integer", "row dropped"),
    "label.class_out_of_range": ("class id >= number of names", "row dropped"),
    "label.clipped": ("box or polygon slightly outside the image", "clipped to the image"),
    "label.out_of_bounds": ("box or polygon far outside the image", "row dropped"),
    "label.zero_size": ("box with zero or negative width or height", "row dropped"),
    "label.duplicate": ("duplicate rows", "duplicates removed"),
    "seg.odd_coordinates": ("polygon with an odd number of coordinates", "row dropped"),
    "seg.too_few_points": ("polygon with fewer than 3 distinct points", "row dropped"),
    "seg.zero_area": ("polygon with zero area", "row dropped"),
    "seg.box_only": (
        "box without a polygon in a segmentation dataset",
        "row kept; its box is its mask",
    ),
    "seg.bad_segmentation": ("segmentation that is not polygons or RLE", "segmentation ignored"),
    "coco.unknown_image": ("annotation for an image id not in 'images'", "annotation dropped"),
    "coco.unknown_category": (
        "annotation with a category id not in 'categories'",
        "annotation dropped",
    ),
    "coco.duplicate_image": ("image entry listed twice", "second entry dropped"),
    "coco.conflicting_image_id": (
        "one image id given to different files",
        "those images and their annotations dropped",
    ),
    "coco.bad_annotation": ("annotation with a missing or mistyped field", "annotation dropped"),
    "coco.size_mismatch": ("width/height in the json differ from the file", "file size used"),
    "coco.class_mismatch": ("splits have different category lists", "error: fix the json files"),
}


@dataclass(frozen=True)
class Problem:
    file: str
    kind: str
    detail: str = ""
    line: int | None = None

    @property
    def action(self) -> str:
        return KINDS[self.kind][1]

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        what = KINDS[self.kind][0] + (f" ({self.detail})" if self.detail else "")
        return f"{where}: {what} -> {self.action}"


@dataclass
class CheckReport:
    """Summary and per-file problems of one dataset split."""

    split: str = ""
    images: int = 0  # images kept
    backgrounds: int = 0  # kept images without any box
    images_dropped: int = 0
    instances: int = 0  # boxes kept
    per_class: dict[str, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    from_cache: bool = False

    def by_kind(self) -> Counter:
        return Counter(p.kind for p in self.problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.kind == "coco.class_mismatch"]

    def summary(self) -> str:
        lines = [
            f"{self.split}: {self.images} images ({self.backgrounds} backgrounds, "
            f"{self.images_dropped} dropped), {self.instances} instances"
            + (" [from cache]" if self.from_cache else "")
        ]
        if self.per_class:
            counts = ", ".join(f"{k} {v}" for k, v in self.per_class.items())
            lines.append(f"  instances per class: {counts}")
        kinds = self.by_kind()
        if kinds:
            lines.append("  problems: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
        else:
            lines.append("  problems: none")
        return "\n".join(lines)

    def details(self, limit: int | None = None) -> str:
        rows = [f"  {p}" for p in self.problems[:limit]]
        if limit is not None and len(self.problems) > limit:
            rows.append(f"  ... and {len(self.problems) - limit} more (see the report file)")
        return "\n".join(rows)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["problems"] = [asdict(p) | {"action": p.action} for p in self.problems]
        return out
