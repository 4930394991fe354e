import pytest

from cardiocrowd.imaging.geometry import geometry_from_metadata
from cardiocrowd.imaging.models import Instance
from cardiocrowd.imaging.services import ingest_dataset
from cardiocrowd.imaging.validation import read_part10
from tests.conftest import ECHO_CINE, SUNNYBROOK_PATIENT


@pytest.mark.parametrize("path, expected", [
    # Sunnybrook MR: PixelSpacing 1.367188 mm
    (SUNNYBROOK_PATIENT / "1.dcm", (256, 256, 1, (1.367188, 1.367188))),
    # SonoSite echo: no PixelSpacing; 2-D ultrasound region calibrated at 0.0510497 cm a pixel
    (ECHO_CINE, (480, 640, 120, (0.5104970559477806, 0.5104970559477806))),
])
def test_geometry_comes_from_the_stored_metadata(project, path, expected):
    project.burned_in_policy = "mask"
    project.pixel_mask_rules = [{"modality": "US", "height": 62, "width": 130}]
    project.save()
    ingest_dataset(project=project, dataset=read_part10(str(path)))

    geometry = geometry_from_metadata(Instance.objects.get(project=project).metadata)

    assert (geometry.rows, geometry.columns, geometry.frames, geometry.spacing_mm) == expected
