"""The platform's own DICOMweb (QIDO-RS, WADO-RS), read only from the de-identified store.

URLs: /dicomweb/<project>/studies[/<study>[/series[/<series>[/instances[/<instance>]]]]], with
/metadata, /frames/<list> and /bulkdata/7fe00010 below an instance, as Cornerstone3D's
`wadors:` loader uses them. Each view authorizes through accounts.access and imaging.access.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator

from django.db.models import Count, QuerySet
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotAcceptable, ParseError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.views import APIView

from cardiocrowd import blobs
from cardiocrowd.accounts.access import get_project_access

from . import storage
from .access import get_instance_for_viewer, visible_instances
from .frames import NATIVE_LITTLE_ENDIAN, FrameIndex, decode_frame_native
from .models import Instance, Series, Study

EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
# Single-frame media types and the transfer syntax each implies when none is named (PS3.18 8.7.3).
IMAGE_MEDIA_TYPES = {
    "image/jpeg": "1.2.840.10008.1.2.4.50",
    "image/jls": "1.2.840.10008.1.2.4.80",
    "image/jp2": "1.2.840.10008.1.2.4.90",
    "image/dicom-rle": "1.2.840.10008.1.2.5",
}
MAX_QIDO_LIMIT = 1000
MAX_QIDO_OFFSET = 10_000_000


class PassThroughNegotiation(BaseContentNegotiation):
    """DICOMweb negotiates its own multipart media types; DRF renders only error bodies (as JSON)."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class DicomWebView(APIView):
    content_negotiation_class = PassThroughNegotiation


# --- Accept header -------------------------------------------------------------------------------


def parse_accept(header: str) -> list[tuple[str, dict[str, str]]]:
    """`multipart/related; type="application/octet-stream"; transfer-syntax=*` → [(media, params)]."""
    ranges = []
    for part in _split_outside_quotes(header or "*/*", ","):
        pieces = _split_outside_quotes(part, ";")
        media = pieces[0].strip().lower()
        params = {}
        for piece in pieces[1:]:
            key, _, value = piece.strip().partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        ranges.append((media, params))
    return ranges


def _split_outside_quotes(text: str, separator: str) -> list[str]:
    parts, current, quoted = [], [], False
    for character in text:
        if character == '"':
            quoted = not quoted
        if character == separator and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(character)
    parts.append("".join(current))
    return [part for part in parts if part.strip()]


def choose_frame_encoding(accept: str, stored: str) -> tuple[str, str]:
    """(part media type, transfer syntax) to send frames in. Raises NotAcceptable."""
    for media, params in parse_accept(accept):
        if media in ("*/*", "multipart/*"):
            return "application/octet-stream", stored
        if media != "multipart/related":
            continue
        part_type = params.get("type", "application/octet-stream").lower()
        requested = params.get("transfer-syntax")
        if part_type == "application/octet-stream":
            if requested in ("*", stored):
                return part_type, stored
            if requested in (None, EXPLICIT_VR_LITTLE_ENDIAN):
                return part_type, EXPLICIT_VR_LITTLE_ENDIAN
        elif part_type in IMAGE_MEDIA_TYPES:
            if (requested or IMAGE_MEDIA_TYPES[part_type]) in ("*", stored) and stored == IMAGE_MEDIA_TYPES[part_type]:
                return part_type, stored
        elif part_type == "*/*" or part_type == "*":
            return "application/octet-stream", stored
    raise NotAcceptable(f"frames are stored as {stored}; acceptable: that syntax (transfer-syntax=*) "
                        f"or {EXPLICIT_VR_LITTLE_ENDIAN} (uncompressed)")


def check_instance_accept(accept: str, stored: str) -> None:
    for media, params in parse_accept(accept):
        if media in ("*/*", "multipart/*", "application/dicom"):
            return
        part_type = params.get("type", "application/dicom")
        if media == "multipart/related" and part_type in ("application/dicom", "*/*") and params.get(
                "transfer-syntax", "*") in ("*", stored):
            return
    raise NotAcceptable(f"instances are retrieved in their stored transfer syntax ({stored}): "
                        'use multipart/related; type="application/dicom"; transfer-syntax=*')


# --- multipart bodies ----------------------------------------------------------------------------


def multipart_frames(parts: list[bytes], part_type: str, transfer_syntax: str) -> HttpResponse:
    boundary = uuid.uuid4().hex
    header = f"--{boundary}\r\nContent-Type: {part_type}; transfer-syntax={transfer_syntax}\r\n\r\n".encode()
    body = b"".join(header + part + b"\r\n" for part in parts) + f"--{boundary}--\r\n".encode()
    return HttpResponse(body, content_type=f'multipart/related; type="{part_type}"; boundary={boundary}')


def multipart_instances(instances: list[Instance]) -> StreamingHttpResponse:
    boundary = uuid.uuid4().hex

    def stream() -> Iterator[bytes]:
        for instance in instances:
            yield (f"--{boundary}\r\nContent-Type: application/dicom; transfer-syntax={instance.transfer_syntax_uid}"
                   f"\r\nContent-Length: {instance.file_size}\r\n\r\n").encode()
            yield from blobs.iter_chunks(storage.instance_name(instance.relative_path))
            yield b"\r\n"
        yield f"--{boundary}--\r\n".encode()

    return StreamingHttpResponse(
        stream(), content_type=f'multipart/related; type="application/dicom"; boundary={boundary}'
    )


# --- QIDO-RS -------------------------------------------------------------------------------------


def _paginate(request: Request, queryset: QuerySet) -> QuerySet:
    try:
        limit = min(int(request.query_params.get("limit", 100)), MAX_QIDO_LIMIT)
        offset = int(request.query_params.get("offset", 0))
    except ValueError:
        raise ParseError("limit and offset must be integers") from None
    if not 0 <= offset <= MAX_QIDO_OFFSET:  # PostgreSQL's OFFSET is a bigint: bound it before it gets there
        raise ParseError(f"offset must be from 0 to {MAX_QIDO_OFFSET}")
    return queryset[offset: offset + max(limit, 0)]


def _query_text(request: Request) -> None:
    """Refuse a query value PostgreSQL cannot compare: text with a NUL character."""
    for key, values in request.query_params.lists():
        if any("\x00" in value for value in values):
            raise ParseError(f"query parameter {key} contains a NUL character")


def _ui(value: str) -> dict:
    return {"vr": "UI", "Value": [value]}


def _study_filters(request: Request, instances: QuerySet) -> QuerySet:
    _query_text(request)
    params = request.query_params
    if value := params.get("StudyInstanceUID") or params.get("0020000D"):
        instances = instances.filter(series__study__study_uid__in=value.split(","))
    if value := params.get("PatientID") or params.get("00100020"):
        instances = instances.filter(series__study__patient_pseudonym=value)
    if value := params.get("StudyDate") or params.get("00080020"):
        start, dash, end = value.partition("-")
        if dash:
            instances = instances.filter(series__study__study_date__gte=start or "00000000",
                                         series__study__study_date__lte=end or "99999999")
        else:
            instances = instances.filter(series__study__study_date=value)
    if value := params.get("ModalitiesInStudy") or params.get("00080061"):
        instances = instances.filter(series__study__series__modality__in=value.split(","))
    return instances


def _series_filters(request: Request, instances: QuerySet) -> QuerySet:
    _query_text(request)
    params = request.query_params
    if value := params.get("SeriesInstanceUID") or params.get("0020000E"):
        instances = instances.filter(series__series_uid__in=value.split(","))
    if value := params.get("Modality") or params.get("00080060"):
        instances = instances.filter(series__modality__in=value.split(","))
    return instances


def _base_url(request: Request, slug: str) -> str:
    return request.build_absolute_uri(f"/dicomweb/{slug}")


class StudySearchView(DicomWebView):
    @extend_schema(summary="QIDO-RS: search for studies", responses={200: dict})
    def get(self, request: Request, slug: str) -> JsonResponse:
        access = get_project_access(request.user, slug)
        instances = _study_filters(request, visible_instances(access, request.user))
        rows = _paginate(request, instances.values("series__study").annotate(
            instance_count=Count("pk", distinct=True), series_count=Count("series", distinct=True)
        ).order_by("series__study"))
        counts = {row["series__study"]: row for row in rows}
        modalities: dict[int, set[str]] = {}
        for study_id, modality in instances.filter(series__study__in=counts).values_list(
                "series__study", "series__modality").distinct():
            modalities.setdefault(study_id, set()).add(modality)
        base = _base_url(request, slug)
        results = []
        for study in Study.objects.filter(pk__in=counts).order_by("pk"):
            attributes = dict(study.attributes)
            attributes["00080061"] = {"vr": "CS", "Value": sorted(m for m in modalities.get(study.pk, ()) if m)}
            attributes["00201206"] = {"vr": "IS", "Value": [counts[study.pk]["series_count"]]}
            attributes["00201208"] = {"vr": "IS", "Value": [counts[study.pk]["instance_count"]]}
            attributes["00081190"] = {"vr": "UR", "Value": [f"{base}/studies/{study.study_uid}"]}
            results.append(dict(sorted(attributes.items())))
        return JsonResponse(results, safe=False, content_type="application/dicom+json")


class SeriesSearchView(DicomWebView):
    @extend_schema(summary="QIDO-RS: search for series", responses={200: dict})
    def get(self, request: Request, slug: str, study_uid: str | None = None) -> JsonResponse:
        access = get_project_access(request.user, slug)
        instances = _series_filters(request, _study_filters(request, visible_instances(access, request.user)))
        if study_uid:
            instances = instances.filter(series__study__study_uid=study_uid)
        rows = _paginate(request, instances.values("series").annotate(
            instance_count=Count("pk", distinct=True)).order_by("series"))
        counts = {row["series"]: row["instance_count"] for row in rows}
        base = _base_url(request, slug)
        results = []
        found = Series.objects.filter(pk__in=counts).select_related("study")
        for series in found.order_by("study_id", "series_number", "pk"):
            attributes = dict(series.attributes)
            attributes["0020000D"] = _ui(series.study.study_uid)
            attributes["00201209"] = {"vr": "IS", "Value": [counts[series.pk]]}
            attributes["00081190"] = {"vr": "UR", "Value": [
                f"{base}/studies/{series.study.study_uid}/series/{series.series_uid}"]}
            results.append(dict(sorted(attributes.items())))
        return JsonResponse(results, safe=False, content_type="application/dicom+json")


INSTANCE_QIDO_TAGS = ("00080016", "00080018", "00200013", "00280010", "00280011", "00280008", "00280100",
                      "00080060", "00280004", "00280002")


class InstanceSearchView(DicomWebView):
    @extend_schema(summary="QIDO-RS: search for instances", responses={200: dict})
    def get(self, request: Request, slug: str, study_uid: str | None = None,
            series_uid: str | None = None) -> JsonResponse:
        access = get_project_access(request.user, slug)
        instances = _series_filters(request, _study_filters(request, visible_instances(access, request.user)))
        if study_uid:
            instances = instances.filter(series__study__study_uid=study_uid)
        if series_uid:
            instances = instances.filter(series__series_uid=series_uid)
        if value := request.query_params.get("SOPInstanceUID") or request.query_params.get("00080018"):
            instances = instances.filter(sop_instance_uid__in=value.split(","))
        instances = _paginate(request, instances.select_related("series__study").order_by(
            "series__study_id", "series_id", "instance_number", "pk"))
        base = _base_url(request, slug)
        results = []
        for instance in instances:
            attributes = {tag: instance.metadata[tag] for tag in INSTANCE_QIDO_TAGS if tag in instance.metadata}
            study, series = instance.series.study.study_uid, instance.series.series_uid
            attributes["0020000D"], attributes["0020000E"] = _ui(study), _ui(series)
            attributes["00083002"] = _ui(instance.transfer_syntax_uid)  # Available Transfer Syntax UID
            attributes["00081190"] = {"vr": "UR", "Value": [
                f"{base}/studies/{study}/series/{series}/instances/{instance.sop_instance_uid}"]}
            results.append(dict(sorted(attributes.items())))
        return JsonResponse(results, safe=False, content_type="application/dicom+json")


# --- WADO-RS -------------------------------------------------------------------------------------


def _scoped_instances(request: Request, slug: str, study_uid: str, series_uid: str | None) -> QuerySet:
    access = get_project_access(request.user, slug)
    instances = visible_instances(access, request.user).filter(series__study__study_uid=study_uid)
    if series_uid:
        instances = instances.filter(series__series_uid=series_uid)
    return instances.select_related("series__study").order_by("series_id", "instance_number", "pk")


def _with_bulk_data_uri(instance: Instance, base: str) -> dict:
    metadata = dict(instance.metadata)
    if instance.number_of_frames:
        url = (f"{base}/studies/{instance.series.study.study_uid}/series/{instance.series.series_uid}"
               f"/instances/{instance.sop_instance_uid}/bulkdata/7fe00010")
        metadata["7FE00010"] = {"vr": "OB" if instance.transfer_syntax_uid not in NATIVE_LITTLE_ENDIAN else "OW",
                                "BulkDataURI": url}
    return metadata


class MetadataView(DicomWebView):
    @extend_schema(summary="WADO-RS: metadata of a study, series or instance (DICOM JSON)", responses={200: dict})
    def get(self, request: Request, slug: str, study_uid: str, series_uid: str | None = None,
            sop_uid: str | None = None) -> JsonResponse:
        instances = _scoped_instances(request, slug, study_uid, series_uid)
        if sop_uid:
            instances = instances.filter(sop_instance_uid=sop_uid)
        base = _base_url(request, slug)
        results = [_with_bulk_data_uri(instance, base) for instance in instances]
        if not results:
            return JsonResponse({"detail": "No such study, series or instance."}, status=404)
        return JsonResponse(results, safe=False, content_type="application/dicom+json")


class RetrieveView(DicomWebView):
    @extend_schema(summary="WADO-RS: retrieve a study, series or instance (multipart application/dicom)",
                   responses={200: bytes})
    def get(self, request: Request, slug: str, study_uid: str, series_uid: str | None = None,
            sop_uid: str | None = None) -> StreamingHttpResponse:
        instances = _scoped_instances(request, slug, study_uid, series_uid).defer("metadata")
        if sop_uid:
            instances = instances.filter(sop_instance_uid=sop_uid)
        instances = list(instances)
        if not instances:
            return JsonResponse({"detail": "No such study, series or instance."}, status=404)
        for instance in instances:
            check_instance_accept(request.headers.get("Accept", ""), instance.transfer_syntax_uid)
        return multipart_instances(instances)


def read_stored_frames(name: str, index: FrameIndex, numbers: list[int]) -> list[bytes]:
    """The frames as stored (their fragments joined), from the byte ranges indexed at ingest: one
    read of the store for them all, never the whole instance."""
    ranges = [index.ranges(number) for number in numbers]
    fragments = iter(blobs.read_ranges(name, [fragment for frame in ranges for fragment in frame]))
    return [b"".join(next(fragments) for _ in frame) for frame in ranges]


def parse_frame_list(text: str, frame_count: int) -> list[int]:
    try:
        frames = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ParseError(f"frame list {text!r} must be comma-separated frame numbers") from None
    for frame in frames:
        if not 1 <= frame <= frame_count:
            raise ParseError(f"frame {frame} is out of range: the instance has frames 1..{frame_count}")
    if not frames:
        raise ParseError("no frame numbers given")
    # Each frame once, in the order first asked: a repeated list (frames/1,1,1,…) must not multiply a
    # small URL into megabytes, so a response is at most the instance's frames.
    return list(dict.fromkeys(frames))


class FramesView(DicomWebView):
    @extend_schema(summary="WADO-RS: frames of an instance (multipart/related)", responses={200: bytes})
    def get(self, request: Request, slug: str, study_uid: str, series_uid: str, sop_uid: str,
            frame_list: str | None = None) -> HttpResponse:
        instance = get_instance_for_viewer(request.user, slug, study_uid=study_uid, series_uid=series_uid,
                                           sop_uid=sop_uid)
        if not instance.number_of_frames:
            return JsonResponse({"detail": "This instance has no pixel data."}, status=404)
        frames = (parse_frame_list(frame_list, instance.number_of_frames) if frame_list
                  else list(range(1, instance.number_of_frames + 1)))
        part_type, syntax = choose_frame_encoding(request.headers.get("Accept", ""), instance.transfer_syntax_uid)
        name = storage.instance_name(instance.relative_path)
        stored = instance.transfer_syntax_uid
        if syntax == stored or (syntax == EXPLICIT_VR_LITTLE_ENDIAN and stored in NATIVE_LITTLE_ENDIAN):
            # Implicit VR LE pixels are the same bytes.
            parts = read_stored_frames(name, FrameIndex(bytes(instance.frame_index)), frames)
        else:
            with blobs.open_reader(name) as file:
                parts = [decode_frame_native(file, number) for number in frames]
        return multipart_frames(parts, part_type, syntax)
