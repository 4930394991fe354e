from datetime import date

import numpy as np
import pydicom
import pytest

from cardiocrowd.imaging.deid import DeidPolicy, deidentify, mask_pixels, pseudonymize_uid
from tests.conftest import DICOM_DATA, ECHO_CINE
from tests.phi import identifying_values

PHI_FIXTURES = [
    DICOM_DATA / "pydicom" / "CT_small.dcm",                                   # institution, 179 private tags
    DICOM_DATA / "pydicom-data" / "MR-SIEMENS-DICOM-WithOverlays.dcm",         # birth date, overlays
    DICOM_DATA / "pydicom-data" / "JPGLosslessP14SV1_1s_1f_8b.dcm",            # Citizen^Jan, ultrasound
    DICOM_DATA / "pydicom-data" / "gdcm-US-ALOKA-16.dcm",                      # NAME^PATIENT^NAME
    DICOM_DATA / "pydicom" / "reportsi.dcm",                                   # SR: names deep in sequences
    DICOM_DATA / "pydicom" / "rtplan.dcm",                                     # nested sequences
    DICOM_DATA / "pydicom-data" / "eCT_Supplemental.dcm",                      # enhanced CT, hospital name
    DICOM_DATA / "orthanc-tests" / "TS_1.2.840.10008.1.2.4.50.dcm",            # free-text names
    ECHO_CINE,
]
POLICY = DeidPolicy(secret=b"project-one-secret")


def all_text(dataset: pydicom.Dataset) -> str:
    parts = []
    for element in dataset.iterall():
        if element.VR not in ("OB", "OW", "UN", "SQ", "OF", "OD", "OL", "OV"):
            parts.append(str(element.value))
    return "\n".join(parts)


@pytest.mark.parametrize("path", PHI_FIXTURES, ids=lambda p: p.name)
def test_identifying_values_are_gone_at_every_depth(path):
    identifying = identifying_values(path)
    dataset = pydicom.dcmread(path)

    deidentify(dataset, POLICY)

    text = all_text(dataset)
    assert identifying, "fixture should carry identifying values"
    assert {value for value in identifying if value in text} == set()


@pytest.mark.parametrize("path", PHI_FIXTURES, ids=lambda p: p.name)
def test_private_tags_are_removed_everywhere(path):
    dataset = pydicom.dcmread(path)

    deidentify(dataset, POLICY)

    assert [element.tag for element in dataset.iterall() if element.tag.is_private] == []


def test_uids_map_the_same_way_within_a_project_and_differently_across_projects():
    first, second, other_project = (pydicom.dcmread(ECHO_CINE) for _ in range(3))
    source_study = first.StudyInstanceUID

    deidentify(first, POLICY)
    deidentify(second, POLICY)
    deidentify(other_project, DeidPolicy(secret=b"project-two-secret"))

    assert first.StudyInstanceUID == second.StudyInstanceUID == pseudonymize_uid(POLICY.secret, source_study)
    assert first.SOPInstanceUID == second.SOPInstanceUID
    assert other_project.StudyInstanceUID != first.StudyInstanceUID
    assert first.StudyInstanceUID.startswith("2.25.") and len(first.StudyInstanceUID) <= 64
    assert first.file_meta.MediaStorageSOPInstanceUID == first.SOPInstanceUID


def test_references_inside_sequences_are_remapped_like_their_targets():
    dataset = pydicom.dcmread(DICOM_DATA / "pydicom" / "rtplan.dcm")
    referenced = [e.value for e in dataset.iterall() if e.keyword == "ReferencedSOPInstanceUID"]

    deidentify(dataset, POLICY)

    remapped = [e.value for e in dataset.iterall() if e.keyword == "ReferencedSOPInstanceUID"]
    assert referenced and remapped == [pseudonymize_uid(POLICY.secret, uid) for uid in referenced]


def test_dates_shift_by_one_offset_per_patient_so_intervals_survive():
    dataset = pydicom.dcmread(DICOM_DATA / "pydicom" / "CT_small.dcm")
    study, content = dataset.StudyDate, dataset.ContentDate

    result = deidentify(dataset, POLICY)

    shift = result.date_shift_days
    assert -3679 <= shift <= -30
    as_date = lambda text: date(int(text[:4]), int(text[4:6]), int(text[6:8]))  # noqa: E731
    assert (as_date(dataset.StudyDate) - as_date(study)).days == shift
    assert (as_date(dataset.ContentDate) - as_date(content)).days == shift
    assert dataset.LongitudinalTemporalInformationModified == "MODIFIED"


def test_remove_policy_leaves_no_dates():
    dataset = pydicom.dcmread(DICOM_DATA / "pydicom" / "CT_small.dcm")

    deidentify(dataset, DeidPolicy(secret=b"s", shift_dates=False))

    assert [e.keyword for e in dataset.iterall() if e.VR in ("DA", "DT") and e.value] == []
    assert dataset.LongitudinalTemporalInformationModified == "REMOVED"


def test_patient_characteristics_are_kept_only_with_the_option():
    kept, removed = pydicom.dcmread(DICOM_DATA / "pydicom" / "CT_small.dcm"), pydicom.dcmread(
        DICOM_DATA / "pydicom" / "CT_small.dcm")
    sex = kept.PatientSex

    deidentify(kept, DeidPolicy(secret=b"s", retain_patient_characteristics=True))
    deidentify(removed, POLICY)

    assert kept.PatientSex == sex and sex
    assert removed.PatientSex == ""
    assert "113108" in [item.CodeValue for item in kept.DeidentificationMethodCodeSequence]


def test_patient_name_and_id_become_the_same_pseudonym_and_identity_removed_is_set():
    dataset = pydicom.dcmread(DICOM_DATA / "pydicom" / "CT_small.dcm")

    result = deidentify(dataset, POLICY)

    assert str(dataset.PatientName) == dataset.PatientID == result.patient_pseudonym
    assert result.source_patient_id == "1CT1"
    assert dataset.PatientIdentityRemoved == "YES"
    assert "113100" in [item.CodeValue for item in dataset.DeidentificationMethodCodeSequence]


def test_overlays_and_free_text_are_removed():
    dataset = pydicom.dcmread(DICOM_DATA / "pydicom-data" / "MR-SIEMENS-DICOM-WithOverlays.dcm")
    assert any(e.tag.group & 0xFF00 == 0x6000 and e.tag.element == 0x3000 for e in dataset)

    deidentify(dataset, POLICY)

    assert not any(e.tag.group & 0xFF00 == 0x6000 and e.tag.element == 0x3000 for e in dataset)
    assert [e.keyword for e in dataset.iterall() if e.VR in ("ST", "LT", "UT")] == []


def test_mask_blacks_out_the_banner_of_every_cine_frame_and_keeps_jpeg_baseline():
    dataset = pydicom.dcmread(ECHO_CINE)
    before = dataset.pixel_array

    mask_pixels(dataset, [{"modality": "US", "x": 0, "y": 0, "width": 130, "height": 62}])

    after = pydicom.dcmread(_roundtrip(dataset)).pixel_array
    assert dataset.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.50"
    assert after.shape == before.shape == (120, 480, 640, 3)
    assert before[:, :62, :130].max() > 200
    assert after[:, :62, :130].max() < 16  # JPEG ringing only, the text is gone
    assert np.abs(after[:, 100:, 200:].astype(int) - before[:, 100:, 200:]).mean() < 3
    assert dataset.BurnedInAnnotation == "NO"


def _roundtrip(dataset):
    import io

    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return buffer
