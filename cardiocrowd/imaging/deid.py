"""De-identification on the way in: DICOM PS3.15 Annex E, Basic Application Level
Confidentiality Profile, with the Retain Longitudinal Temporal Information (Modified Dates),
Retain Patient Characteristics and Clean Pixel Data options.

Pure module (pydicom, numpy, Pillow). The attribute table is the standard's own, as kept by the
`dicom-anonymizer` package (2026c edition); we apply it ourselves because that package applies
rules only at the top level of a dataset and maps UIDs through a per-process random table,
while we must reach into nested sequences and remap UIDs the same way in every worker process
of a project (a keyed hash of the source UID with the project's secret).

Beyond the table, as defence in depth for a crowd-facing store:
- private tags are removed at every depth;
- free text (ST, LT, UT) is removed at every depth: reports and comments carry names;
- any remaining text value that contains the patient's name or ID is removed;
- any remaining UID equal to a remapped source UID is remapped too.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import numpy as np
import pydicom
from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, JPEGBaseline8Bit, RLELossless

pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE

PROFILE_TABLE = "dicomfields_2026c"
DELETE, EMPTY, DUMMY, UID, EMPTY_OR_DUMMY, REFERENCE = "X", "Z", "D", "U", "Z/D", "X/Z/U*"
_CATEGORY_ACTION = {
    "D_TAGS": DUMMY,
    "Z_TAGS": EMPTY,
    "X_TAGS": DELETE,
    "U_TAGS": UID,
    "Z_D_TAGS": EMPTY_OR_DUMMY,
    # Where the standard allows removal we remove: less to leak, and none of it is needed to view.
    "X_Z_TAGS": DELETE,
    "X_D_TAGS": DELETE,
    "X_Z_D_TAGS": DELETE,
    "X_Z_U_STAR_TAGS": REFERENCE,
}


def _load_table() -> tuple[dict[int, str], list[tuple[int, int, int, int, str]]]:
    table = dicom_anonymization_database_selector(PROFILE_TABLE)
    single: dict[int, str] = {}
    masked: list[tuple[int, int, int, int, str]] = []
    for category, action in _CATEGORY_ACTION.items():
        for tag in table[category]:
            if len(tag) == 2:
                single[(tag[0] << 16) | tag[1]] = action
            else:
                masked.append((*tag, action))
    return single, masked


TAG_ACTIONS, MASKED_TAG_ACTIONS = _load_table()

PATIENT_NAME, PATIENT_ID, PATIENT_BIRTH_DATE = 0x00100010, 0x00100020, 0x00100030
# PS3.15 Retain Patient Characteristics Option: what cardiology needs for indexed measurements.
PATIENT_CHARACTERISTICS = {0x00100040, 0x00101010, 0x00101020, 0x00101030, 0x001021C0, 0x001021A0}
FREE_TEXT_VRS = {"ST", "LT", "UT"}
TEXT_VRS = {"PN", "LO", "SH", "ST", "LT", "UT", "UC", "CS", "AE"}

# DCM codes for De-identification Method Code Sequence (CID 7050).
CODE_BASIC_PROFILE = ("113100", "Basic Application Confidentiality Profile")
CODE_CLEAN_PIXELS = ("113101", "Clean Pixel Data Option")
CODE_MODIFIED_DATES = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")
CODE_PATIENT_CHARACTERISTICS = ("113108", "Retain Patient Characteristics Option")


@dataclass(frozen=True)
class DeidPolicy:
    secret: bytes
    shift_dates: bool = True
    retain_patient_characteristics: bool = False


@dataclass
class DeidResult:
    dataset: Dataset
    patient_pseudonym: str
    date_shift_days: int | None
    source_patient_id: str
    # source UID → pseudonym for the study, series and instance of this dataset
    source_study_uid: str = ""
    source_series_uid: str = ""
    source_instance_uid: str = ""
    removed_private_tags: int = 0
    uid_map: dict[str, str] = field(default_factory=dict)


def _digest(secret: bytes, purpose: str, value: str) -> bytes:
    return hmac.new(secret, f"{purpose}:{value}".encode(), hashlib.sha256).digest()


def pseudonymize_uid(secret: bytes, uid: str) -> str:
    """Deterministic per project: the same source UID always maps to the same 2.25 UID."""
    return "2.25." + str(int.from_bytes(_digest(secret, "uid", uid.strip())[:16], "big"))


def patient_pseudonym(secret: bytes, patient_key: str) -> str:
    return "CC" + base64.b32encode(_digest(secret, "patient", patient_key)[:10]).decode().rstrip("=")


def date_shift_days(secret: bytes, patient_key: str) -> int:
    """Shift into the past by 30 to 3679 days, the same for every study of one patient."""
    return -(30 + int.from_bytes(_digest(secret, "shift", patient_key)[:4], "big") % 3650)


def shift_da(value: str, days: int) -> str:
    return (datetime.strptime(value.strip()[:8], "%Y%m%d").date() + timedelta(days=days)).strftime("%Y%m%d")


def shift_dt(value: str, days: int) -> str:
    text = value.strip()
    shifted = (date(int(text[0:4]), int(text[4:6] or 1), int(text[6:8] or 1)) + timedelta(days=days))
    return shifted.strftime("%Y%m%d")[: max(len(text[:8]), 4)] + text[8:]


class _Deidentifier:
    def __init__(self, policy: DeidPolicy, patient_key: str, patient_words: list[str]):
        self.policy = policy
        self.pseudonym = patient_pseudonym(policy.secret, patient_key)
        self.shift = date_shift_days(policy.secret, patient_key) if policy.shift_dates else None
        self.patient_words = patient_words
        self.uid_map: dict[str, str] = {}
        self.removed_private = 0

    def remap(self, uid: str) -> str:
        uid = uid.strip()
        if uid not in self.uid_map:
            self.uid_map[uid] = pseudonymize_uid(self.policy.secret, uid)
        return self.uid_map[uid]

    def action_for(self, tag: int) -> str | None:
        action = TAG_ACTIONS.get(tag)
        if action is not None:
            return action
        group, element = tag >> 16, tag & 0xFFFF
        for group_value, element_value, group_mask, element_mask, masked_action in MASKED_TAG_ACTIONS:
            if (group ^ group_value) & group_mask == 0 and (element ^ element_value) & element_mask == 0:
                return masked_action
        return None

    def clean(self, dataset: Dataset) -> None:
        doomed = []
        for element in dataset:
            tag = int(element.tag)
            if element.tag.is_private:
                doomed.append(tag)
                self.removed_private += 1
                continue
            if tag in (PATIENT_NAME, PATIENT_ID):
                element.value = self.pseudonym
                continue
            if tag == PATIENT_BIRTH_DATE:
                element.value = ""
                continue
            if tag in PATIENT_CHARACTERISTICS and self.policy.retain_patient_characteristics:
                continue
            action = self.action_for(tag)
            if element.VR == "SQ":
                if action == DELETE:
                    doomed.append(tag)
                elif action == EMPTY:
                    element.value = Sequence()
                else:  # D, X/Z/U* and unlisted sequences: keep the structure, clean every item
                    for item in element.value:
                        self.clean(item)
                continue
            if action == DELETE:
                doomed.append(tag)
            elif element.VR in ("DA", "DT", "TM"):
                self.clean_temporal(dataset, element, action, doomed)
            elif action in (UID, REFERENCE) and element.VR == "UI":
                element.value = [self.remap(v) for v in element.value] if element.VM > 1 else self.remap(element.value)
            elif action == REFERENCE:
                doomed.append(tag)
            elif action in (EMPTY, EMPTY_OR_DUMMY):
                element.value = ""
            elif action == DUMMY:
                element.value = _dummy_for(element.VR)
            elif element.VR in FREE_TEXT_VRS or element.VR in TEXT_VRS and self.names_patient(element.value):
                doomed.append(tag)
        for tag in doomed:
            del dataset[tag]

    def clean_temporal(self, dataset: Dataset, element, action: str | None, doomed: list[int]) -> None:
        value = element.value
        if not value:
            return
        if self.shift is None:  # dates removed: listed ones per table, unlisted ones too
            if action in (EMPTY, EMPTY_OR_DUMMY, DUMMY):
                element.value = ""
            else:
                doomed.append(int(element.tag))
            return
        shift = {"DA": shift_da, "DT": shift_dt}.get(element.VR)  # TM: times of day are kept
        if shift is None:
            return
        try:
            if element.VM > 1:
                element.value = [shift(v, self.shift) for v in element.value]
            else:
                element.value = shift(value, self.shift)
        except (ValueError, IndexError):
            doomed.append(int(element.tag))  # an unparseable date cannot be shifted safely

    def names_patient(self, value) -> bool:
        if not self.patient_words:
            return False
        values = value if isinstance(value, (list, pydicom.multival.MultiValue)) else [value]
        text = " ".join(str(v) for v in values).upper()
        return any(word in text for word in self.patient_words)

    def remap_remaining_uids(self, dataset: Dataset) -> None:
        for element in dataset:
            if element.VR == "SQ":
                for item in element.value:
                    self.remap_remaining_uids(item)
            elif element.VR == "UI" and element.value:
                if element.VM > 1:
                    element.value = [self.uid_map.get(v, v) for v in element.value]
                elif element.value in self.uid_map:
                    element.value = self.uid_map[element.value]


def _dummy_for(vr: str) -> str | int | float:
    if vr in ("IS", "US", "SS", "UL", "SL", "FL", "FD", "DS"):
        return 0
    if vr == "PN":
        return "ANONYMIZED"
    return "ANONYMIZED" if vr in ("LO", "SH", "ST", "LT", "UT", "UC") else ""


def _patient_words(dataset: Dataset) -> list[str]:
    words = set()
    name = str(dataset.get("PatientName", "") or "")
    for part in name.replace("^", " ").replace("=", " ").split():
        if len(part) >= 3:
            words.add(part.upper())
    patient_id = str(dataset.get("PatientID", "") or "").strip()
    if len(patient_id) >= 3:
        words.add(patient_id.upper())
    return sorted(words)


def deidentify(dataset: Dataset, policy: DeidPolicy) -> DeidResult:
    """De-identify `dataset` in place and return it with the pseudonyms used."""
    source_patient_id = str(dataset.get("PatientID", "") or "").strip()
    patient_key = source_patient_id or f"study:{dataset.get('StudyInstanceUID', '')}"
    source_uids = (str(dataset.get("StudyInstanceUID", "")), str(dataset.get("SeriesInstanceUID", "")),
                   str(dataset.get("SOPInstanceUID", "")))
    worker = _Deidentifier(policy, patient_key, _patient_words(dataset))
    worker.clean(dataset)
    worker.remap_remaining_uids(dataset)

    dataset.PatientIdentityRemoved = "YES"
    dataset.LongitudinalTemporalInformationModified = "MODIFIED" if policy.shift_dates else "REMOVED"
    codes = [CODE_BASIC_PROFILE]
    if policy.shift_dates:
        codes.append(CODE_MODIFIED_DATES)
    if policy.retain_patient_characteristics:
        codes.append(CODE_PATIENT_CHARACTERISTICS)
    _set_method(dataset, codes)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    meta.TransferSyntaxUID = dataset.file_meta.TransferSyntaxUID
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    dataset.file_meta = meta
    return DeidResult(
        dataset=dataset,
        patient_pseudonym=worker.pseudonym,
        date_shift_days=worker.shift,
        source_patient_id=source_patient_id,
        source_study_uid=source_uids[0],
        source_series_uid=source_uids[1],
        source_instance_uid=source_uids[2],
        removed_private_tags=worker.removed_private,
        uid_map=worker.uid_map,
    )


def _set_method(dataset: Dataset, codes: list[tuple[str, str]]) -> None:
    items = []
    for value, meaning in codes:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        items.append(item)
    dataset.DeidentificationMethodCodeSequence = Sequence(items)
    # One value per option (LO, at most 64 characters each): the codes above carry the full meanings.
    dataset.DeidentificationMethod = ["CardioCrowd PS3.15 Annex E", *(meaning[:64] for _, meaning in codes)]


def _add_method_code(dataset: Dataset, code: tuple[str, str]) -> None:
    existing = [(i.CodeValue, i.CodeMeaning) for i in dataset.get("DeidentificationMethodCodeSequence", [])]
    _set_method(dataset, [*existing, code])


# --- Burned-in annotation ----------------------------------------------------------------------


# Modalities that routinely burn patient text into the pixels: an absent flag is not a "NO".
BURNED_IN_UNLESS_SAID_OTHERWISE = {"US", "SC", "XC", "OT", "ES"}


def has_burned_in_annotation(dataset: Dataset) -> bool:
    flag = str(dataset.get("BurnedInAnnotation", "")).strip().upper()
    if flag:
        return flag == "YES"
    return str(dataset.get("Modality", "")).upper() in BURNED_IN_UNLESS_SAID_OTHERWISE


def matching_mask_rules(dataset: Dataset, rules: list[dict]) -> list[dict]:
    modality = str(dataset.get("Modality", "")).upper()
    return [rule for rule in rules if str(rule.get("modality", modality)).upper() == modality]


def mask_pixels(dataset: Dataset, rules: list[dict]) -> None:
    """Black out each rule's rectangle in every frame (Clean Pixel Data Option).

    JPEG baseline (the usual echo cine) is re-encoded frame by frame as JPEG baseline so the
    stored file stays compact; anything else is decoded and stored RLE lossless.
    """
    rows, columns = int(dataset.Rows), int(dataset.Columns)
    frames = int(dataset.get("NumberOfFrames") or 1)
    if dataset.file_meta.TransferSyntaxUID == JPEGBaseline8Bit:
        from PIL import Image  # Pillow decodes and encodes baseline JPEG directly

        encoded = []
        for fragment in pydicom.encaps.generate_frames(dataset.PixelData, number_of_frames=frames):
            image = Image.open(io.BytesIO(fragment))
            array = np.asarray(image).copy()
            _black_out(array, rules, rows, columns)
            out = io.BytesIO()
            Image.fromarray(array, mode=image.mode).save(
                out, format="JPEG", quality=95, subsampling=1 if image.mode == "RGB" else 0
            )
            encoded.append(out.getvalue())
        dataset.PixelData = encapsulate(encoded)
        if dataset.get("SamplesPerPixel", 1) == 3:
            dataset.PhotometricInterpretation = "YBR_FULL_422"
        dataset.LossyImageCompression = "01"
    else:
        array = dataset.pixel_array.copy()
        stack = array if frames > 1 else array[np.newaxis]
        for frame in stack:
            _black_out(frame, rules, rows, columns)
        if dataset.file_meta.TransferSyntaxUID.is_compressed:
            dataset.compress(RLELossless, stack if frames > 1 else stack[0], generate_instance_uid=False)
        else:
            dataset.PixelData = stack.tobytes()
    dataset.BurnedInAnnotation = "NO"
    _add_method_code(dataset, CODE_CLEAN_PIXELS)


def _black_out(frame: np.ndarray, rules: list[dict], rows: int, columns: int) -> None:
    for rule in rules:
        x, y = int(rule.get("x") or 0), int(rule.get("y") or 0)
        width = rule.get("width") or columns - x
        height = rule.get("height") or rows - y
        frame[y: y + int(height), x: x + int(width)] = 0
