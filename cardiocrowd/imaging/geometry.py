"""An instance's image grid and calibration, read from its stored DICOM JSON. Pure module."""
from __future__ import annotations

from labeling.schema import ImageGeometry

ROWS, COLUMNS, NUMBER_OF_FRAMES = "00280010", "00280011", "00280008"
PIXEL_SPACING, IMAGER_PIXEL_SPACING = "00280030", "00181164"
ULTRASOUND_REGIONS = "00186011"
# Inside an ultrasound region item: spatial format, units (3 = cm) and the size of one pixel.
REGION_SPATIAL_FORMAT, UNITS_X, UNITS_Y, DELTA_X, DELTA_Y = "00186012", "00186024", "00186026", "0018602C", "0018602E"
CENTIMETRES, TWO_DIMENSIONAL = 3, 1


def _value(attributes: dict, tag: str):
    values = attributes.get(tag, {}).get("Value") or []
    return values[0] if len(values) == 1 else (values or None)


def geometry_from_metadata(metadata: dict) -> ImageGeometry:
    """Rows, columns, frames and mm per pixel: PixelSpacing (or Imager Pixel Spacing), else the
    first 2-D ultrasound region calibrated in cm, else none (sizes stay in pixels)."""
    return ImageGeometry(rows=int(_value(metadata, ROWS)), columns=int(_value(metadata, COLUMNS)),
                         frames=int(_value(metadata, NUMBER_OF_FRAMES) or 1), spacing_mm=_spacing(metadata))


def _spacing(metadata: dict) -> tuple[float, float] | None:
    for tag in (PIXEL_SPACING, IMAGER_PIXEL_SPACING):
        spacing = metadata.get(tag, {}).get("Value")
        if spacing and len(spacing) == 2 and all(float(s) > 0 for s in spacing):
            return float(spacing[0]), float(spacing[1])
    for region in metadata.get(ULTRASOUND_REGIONS, {}).get("Value") or []:
        if (_value(region, REGION_SPATIAL_FORMAT) == TWO_DIMENSIONAL and _value(region, UNITS_X) == CENTIMETRES
                and _value(region, UNITS_Y) == CENTIMETRES):
            delta_x, delta_y = float(_value(region, DELTA_X)), float(_value(region, DELTA_Y))
            if delta_x > 0 and delta_y > 0:
                return abs(delta_y) * 10, abs(delta_x) * 10  # (row, column) spacing in mm
    return None
