"""The DICOM SEG and SR of an export, read back with highdicom and pydicom: masks equal to the
stored consensus on the labeled frame of the de-identified source, measurements with their UCUM
units, every reference pointing at the de-identified instances and study."""
import highdicom as hd
import numpy as np
import pydicom
import pytest
from PIL import Image, ImageDraw

from cardiocrowd.imaging.storage import instance_path
from exports.models import Export
from exports.segmentation import STAND_IN_SOP_CLASS
from labeling.consensus.masks import rasterize_polygon
from labeling.schema import polygon_area
from tests.exports.conftest import ECHO_CONTOUR_FRAME, ECHO_MASK_FRAME, echo_myocardium

US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
MR_IMAGE = "1.2.840.10008.5.1.4.1.1.4"


@pytest.fixture
def exported(labeled, admin_user, export_as, settings):
    export_as(admin_user, labeled.project)
    export = Export.objects.get(project=labeled.project, version=1)
    assert export.status == "ready", export.error
    return lambda name: settings.CARDIOCROWD_DATA_DIR / export.folder / name


def source_of(labeled, name: str) -> pydicom.Dataset:
    return pydicom.dcmread(instance_path(labeled.instances[name].relative_path), stop_before_pixels=True)


def test_the_mr_seg_is_the_consensus_contour_on_the_de_identified_slice(labeled, exported):
    source = source_of(labeled, "mr48")
    consensus = labeled.items["mr48"].result["lv"]

    seg = hd.seg.segread(exported(f"seg-{source.SOPInstanceUID}.dcm"))
    mask = seg.get_pixels_by_source_instance([source.SOPInstanceUID], segment_numbers=[1])[0, :, :, 0]

    assert seg.get_source_image_uids() == [(source.StudyInstanceUID, source.SeriesInstanceUID,
                                            source.SOPInstanceUID)]
    assert labeled.instances["mr48"].sop_instance_uid == source.SOPInstanceUID  # the pseudonym, as stored
    assert (seg.StudyInstanceUID, seg.PatientID, seg.FrameOfReferenceUID) == (
        source.StudyInstanceUID, source.PatientID, source.FrameOfReferenceUID)
    assert seg.SegmentationType == "BINARY" and seg.number_of_segments == 1
    description = seg.get_segment_description(1)
    assert (description.segment_label, description.tracking_id) == ("LV endocardium",
                                                                    f"item {labeled.items['mr48'].pk} lv")
    assert (description.segmented_property_type.value, description.segmented_property_type.meaning) == (
        "lv", "LV endocardium")
    assert np.array_equal(mask.astype(bool), rasterize_polygon(consensus["points"], 256, 256))
    # Its pixel count is the contour's area (the expert contour of Sunnybrook slice 48), and the same
    # contour drawn independently (PIL) differs only on the outline.
    assert abs(int(mask.sum()) - polygon_area(consensus["points"])) / polygon_area(consensus["points"]) < 0.03
    drawn = Image.new("1", (256, 256), 0)
    ImageDraw.Draw(drawn).polygon([tuple(point) for point in consensus["points"]], fill=1)
    drawn = np.array(drawn)
    assert not (mask.astype(bool) & ~drawn).any()  # PIL also fills the outline's pixels
    assert 2 * (mask.astype(bool) & drawn).sum() / (mask.sum() + drawn.sum()) > 0.95


def test_the_echo_seg_has_one_segment_per_field_on_its_labeled_frame(labeled, exported):
    source = source_of(labeled, "echo")
    result = labeled.items["echo"].result

    seg = hd.seg.segread(exported(f"seg-{source.SOPInstanceUID}.dcm"))
    contour = seg.get_pixels_by_source_frame(source.SOPInstanceUID, [ECHO_CONTOUR_FRAME], segment_numbers=[1])
    brush = seg.get_pixels_by_source_frame(source.SOPInstanceUID, [ECHO_MASK_FRAME], segment_numbers=[2])
    references = [frame.DerivationImageSequence[0].SourceImageSequence[0]
                  for frame in seg.PerFrameFunctionalGroupsSequence]

    assert seg.number_of_segments == 2 and seg.NumberOfFrames == 2
    assert [(r.ReferencedSOPClassUID, r.ReferencedSOPInstanceUID, int(r.ReferencedFrameNumber)) for r in references] \
        == [(US_MULTIFRAME, source.SOPInstanceUID, ECHO_CONTOUR_FRAME), (US_MULTIFRAME, source.SOPInstanceUID,
                                                                         ECHO_MASK_FRAME)]
    assert seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPClassUID == US_MULTIFRAME
    assert "FrameOfReferenceUID" not in seg  # the echo has none; the frames are named instead
    assert [seg.get_segment_description(n).segment_label for n in (1, 2)] == ["LV endocardium", "Myocardium"]
    assert np.array_equal(contour[0, :, :, 0].astype(bool), rasterize_polygon(result["lv"]["points"], 480, 640))
    assert np.array_equal(brush[0, :, :, 0].astype(bool), echo_myocardium())
    assert source.SOPClassUID == US_MULTIFRAME  # the stored file is untouched by the export
    written = pydicom.dcmread(exported(f"seg-{source.SOPInstanceUID}.dcm"))
    assert STAND_IN_SOP_CLASS not in {element.value for element in written.iterall() if element.VR == "UI"}


def test_the_mr_sr_reports_lvef_length_and_area_with_ucum_units(labeled, exported):
    source = source_of(labeled, "mr48")
    result, item = labeled.items["mr48"].result, labeled.items["mr48"]

    sr = hd.sr.srread(exported(f"sr-item-{item.pk}.dcm"))
    groups = sr.content.get_image_measurement_groups()
    [region] = sr.content.get_planar_roi_measurement_groups()
    measured = {group.tracking_identifier: group.get_measurements()[0] for group in groups}
    lvef, diameter = measured[f"item {item.pk} lvef"], measured[f"item {item.pk} lv_diameter"]
    [area] = region.get_measurements()
    [line] = diameter.referenced_coordinates

    assert sr.SOPClassUID == "1.2.840.10008.5.1.4.1.1.88.33"  # Comprehensive SR
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    assert (sr.StudyInstanceUID, sr.PatientID) == (source.StudyInstanceUID, source.PatientID)
    assert (lvef.name.value, lvef.name.scheme_designator, lvef.value, lvef.unit.value) == ("10230-1", "LN", 56.0, "%")
    assert [image.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for image in lvef.referenced_images] == [
        source.SOPInstanceUID]
    assert (diameter.name.meaning, diameter.value, diameter.unit.value) == ("LV diameter",
                                                                           result["lv_diameter"]["length_mm"], "mm")
    assert np.allclose(line.value, np.array(result["lv_diameter"]["points"]) + 0.5)  # SCOORD: corner at 0, 0
    assert (area.name.meaning, area.value, area.unit.value) == ("Area", result["lv"]["area_mm2"], "mm2")
    assert region.finding_type.meaning == "LV endocardium"
    assert region.roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert np.allclose(region.roi.value[:-1], np.array(result["lv"]["points"]) + 0.5)
    assert [evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID
            for study in sr.CurrentRequestedProcedureEvidenceSequence
            for evidence in study.ReferencedSeriesSequence] == [source.SOPInstanceUID]


def test_the_echo_sr_refers_to_the_seg_for_the_brush_mask_area(labeled, exported):
    source = source_of(labeled, "echo")
    result, item = labeled.items["echo"].result, labeled.items["echo"]
    seg = pydicom.dcmread(exported(f"seg-{source.SOPInstanceUID}.dcm"))

    sr = hd.sr.srread(exported(f"sr-item-{item.pk}.dcm"))
    regions = {group.tracking_identifier: group for group in sr.content.get_planar_roi_measurement_groups()}
    measured = {group.tracking_identifier: group.get_measurements()[0]
                for group in sr.content.get_image_measurement_groups()}
    myocardium, lv = regions[f"item {item.pk} myocardium"], regions[f"item {item.pk} lv"]
    segment_reference = myocardium.referenced_segmentation_frame
    evidence = {sop.ReferencedSOPInstanceUID for study in sr.CurrentRequestedProcedureEvidenceSequence
                for series in study.ReferencedSeriesSequence for sop in series.ReferencedSOPSequence}

    assert measured[f"item {item.pk} lvef"].value == 45.0  # the cardiologist's correction
    assert myocardium.get_measurements()[0].value == result["myocardium"]["area_mm2"]
    # SEG frame 2 holds segment 2 (the myocardium): the frame implies the segment.
    assert (segment_reference.referenced_sop_instance_uid, segment_reference.referenced_frame_numbers) == (
        seg.SOPInstanceUID, [2])
    assert int(seg.PerFrameFunctionalGroupsSequence[1].SegmentIdentificationSequence[0].ReferencedSegmentNumber) == 2
    source_image = segment_reference.source_image_for_segmentation
    assert (source_image.referenced_sop_instance_uid, source_image.referenced_frame_numbers) == (
        source.SOPInstanceUID, [ECHO_MASK_FRAME])
    assert int(lv.roi.ContentSequence[0].ReferencedSOPSequence[0].ReferencedFrameNumber) == ECHO_CONTOUR_FRAME
    assert evidence == {source.SOPInstanceUID, seg.SOPInstanceUID}
    assert result["myocardium"]["area_mm2"] == pytest.approx(echo_myocardium().sum() * 0.5104970559 ** 2, abs=0.01)
