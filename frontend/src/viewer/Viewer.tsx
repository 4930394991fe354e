// The image viewer: a Cornerstone3D stack viewport over the item's instances (single images, MR/CT
// series, multi-frame echo cine), with cine play/pause at the recorded frame rate, frame stepping and
// a slider, window/level, zoom, pan, reset, and the drawing tools of the label schema.
//
// The screen's answer is the source of truth for shapes: the viewer draws `shapes` (the worker's own,
// editable; other workers', locked and coloured), reports what the worker draws or edits in image
// pixels through `onDrawn`, and the screen hands the result back as a shape. Brush masks travel the
// same way as run-length masks.
import {
  Enums, RenderingEngine, cache, eventTarget, imageLoader, utilities as csUtils, type Types,
} from "@cornerstonejs/core";
import {
  AngleTool, BrushTool, Enums as ToolsEnums, LengthTool, PanTool, PlanarFreehandROITool, ProbeTool, RectangleROITool,
  StackScrollTool, ToolGroupManager, WindowLevelTool, ZoomTool, annotation as annotations, segmentation,
  utilities as toolsUtils,
} from "@cornerstonejs/tools";
import { forwardRef, useCallback, useEffect, useImperativeHandle, useMemo, useRef, useState } from "react";
import type { InstanceRef, Point } from "../types";
import {
  angleDegrees, decodeRle, encodeRle, formatArea, formatLength, polygonAreaMm2, segmentLength, type Calibration,
} from "../labeling/geometry";
import { initCornerstone, loadInstance, recommendedWindow, stackOf, type LoadedInstance, type StackEntry } from "./cornerstone";
import { recordMetric } from "./metrics";

export type DrawingKind = "length" | "angle" | "points" | "bounding_box" | "contour";
export type ViewerTool = "WindowLevel" | "Pan" | "Zoom" | DrawingKind | "brush" | "eraser";

/** A shape shown on an image; a box is its two opposite corners. */
export interface OverlayShape {
  id: string;
  kind: DrawingKind;
  instance: string;
  frame: number;
  points: Point[];
  color: string;
  locked: boolean;
  label?: string;
}

export interface DrawnShape { id: string | null; kind: DrawingKind; instance: string; frame: number; points: Point[] }
export interface PaintedMask { instance: string; frame: number; rows: number; columns: number; rle: number[] }
export interface ViewerPosition {
  instance: string;
  instanceIndex: number;
  frame: number;
  frames: number;
  calibration: Calibration | null;
}

export interface ViewerHandle {
  goTo(instance: string, frame: number): void;
  step(delta: number): void;
  togglePlay(): void;
  reset(): void;
  position(): ViewerPosition | null;
}

interface ViewerProps {
  instances: InstanceRef[];
  tool: ViewerTool;
  shapes: OverlayShape[];
  brushRadiusMm?: number;
  maskEnabled?: boolean;
  mask?: PaintedMask | null;
  onDrawn?: (shape: DrawnShape) => void;
  onMaskPainted?: (mask: PaintedMask | null) => void;
  onPosition?: (position: ViewerPosition) => void;
  label?: string;
}

const TOOL_NAMES: Record<DrawingKind, string> = {
  length: LengthTool.toolName, angle: AngleTool.toolName, points: ProbeTool.toolName,
  bounding_box: RectangleROITool.toolName, contour: PlanarFreehandROITool.toolName,
};
const KIND_OF_TOOL = Object.fromEntries(Object.entries(TOOL_NAMES).map(([kind, name]) => [name, kind])) as
  Record<string, DrawingKind>;
const BRUSH = "CircularBrush";
const ERASER = "CircularEraser";
const SEGMENT = 1;
let viewerCount = 0;

const toWorld = (imageId: string, [x, y]: Point): Types.Point3 =>
  csUtils.imageToWorldCoords(imageId, [x, y]) as Types.Point3;

function toImage(imageId: string, world: Types.Point3): Point {
  const point = csUtils.worldToImageCoords(imageId, world) ?? [0, 0];
  return [point[0], point[1]];
}

/** The pixel points of a Cornerstone annotation, as the schema stores its kind. */
function annotationPoints(kind: DrawingKind, imageId: string, data: Record<string, any>): Point[] {
  if (kind === "contour") return (data.contour?.polyline ?? []).map((world: Types.Point3) => toImage(imageId, world));
  const points: Types.Point3[] = data.handles?.points ?? [];
  if (kind === "bounding_box") return points.length === 4 ? [toImage(imageId, points[0]), toImage(imageId, points[3])] : [];
  return points.map((world) => toImage(imageId, world));
}

function windingDirection(points: Point[]): number {
  let total = 0;
  points.forEach(([x0, y0], index) => {
    const [x1, y1] = points[(index + 1) % points.length];
    total += (x1 - x0) * (y1 + y0);
  });
  return total > 0 ? 1 : -1;
}

/** A Cornerstone annotation object for a shape, on the frame's image. */
function annotationFor(shape: OverlayShape, imageId: string, frameOfReference: string | undefined,
  calibration: Calibration | null): any {
  const world = shape.points.map((point) => toWorld(imageId, point));
  let handles: Types.Point3[] = world;
  let contour: Record<string, unknown> | undefined;
  if (shape.kind === "bounding_box") {
    const [[x0, y0], [x1, y1]] = shape.points;
    handles = [toWorld(imageId, [x0, y0]), toWorld(imageId, [x1, y0]), toWorld(imageId, [x0, y1]), toWorld(imageId, [x1, y1])];
  }
  if (shape.kind === "contour") {
    handles = [];
    contour = { polyline: [...world, world[0]], closed: true, windingDirection: windingDirection(shape.points) };
  }
  return {
    annotationUID: shape.id,
    highlighted: false, invalidated: true, autoGenerated: false, isLocked: shape.locked, isVisible: true,
    metadata: { toolName: TOOL_NAMES[shape.kind], referencedImageId: imageId, FrameOfReferenceUID: frameOfReference,
      viewPlaneNormal: [0, 0, 1] },
    data: {
      handles: { points: handles, activeHandleIndex: null, textBox: { hasMoved: false } },
      cachedStats: {}, label: shape.label ?? "", ...(contour ? { contour } : {}),
      cardiocrowdText: [shape.label, describeShape(shape.kind, shape.points, calibration)].filter(Boolean).join(": "),
    },
  };
}

const samePoints = (a: Point[], b: Point[]) =>
  a.length === b.length && a.every((point, index) => Math.abs(point[0] - b[index][0]) < 0.02 && Math.abs(point[1] - b[index][1]) < 0.02);

export const Viewer = forwardRef<ViewerHandle, ViewerProps>(function Viewer(props, ref) {
  const { instances, tool, shapes, brushRadiusMm = 3, maskEnabled = false, mask, label = "Image viewer" } = props;
  const element = useRef<HTMLDivElement>(null);
  const ids = useMemo(() => {
    viewerCount += 1;
    return { engine: `engine-${viewerCount}`, viewport: `viewport-${viewerCount}`, tools: `tools-${viewerCount}`,
      segmentation: `mask-${viewerCount}` };
  }, []);
  const engine = useRef<RenderingEngine | null>(null);
  const loaded = useRef<LoadedInstance[]>([]);
  const stack = useRef<StackEntry[]>([]);
  const labelmapIds = useRef<string[]>([]);
  const callbacks = useRef(props);
  callbacks.current = props;
  const shown = useRef(new Map<string, OverlayShape>());
  const applyingMask = useRef(false);
  const emittedMask = useRef<string>("");
  const [index, setIndex] = useState(0);
  const [frames, setFrames] = useState(0);
  const [cached, setCached] = useState(0);
  const [playing, setPlaying] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [ready, setReady] = useState(false);
  const [fps, setFps] = useState<number | null>(null);
  const playingRef = useRef(false);
  playingRef.current = playing;
  const cineWindow = useRef({ start: 0, frames: 0 });

  const viewport = useCallback(
    () => engine.current?.getViewport(ids.viewport) as Types.IStackViewport | undefined, [ids]);

  const positionAt = useCallback((stackIndex: number): ViewerPosition | null => {
    const entry = stack.current[stackIndex];
    if (!entry) return null;
    const instance = loaded.current[entry.instance];
    return { instance: instance.ref.sop_instance_uid, instanceIndex: entry.instance, frame: entry.frame,
      frames: instance.frames, calibration: instance.calibration };
  }, []);

  // Rendering engine, viewport and tool group: once per mounted viewer.
  useEffect(() => {
    const div = element.current!;
    initCornerstone();
    const renderingEngine = new RenderingEngine(ids.engine);
    engine.current = renderingEngine;
    renderingEngine.enableElement({ viewportId: ids.viewport, type: Enums.ViewportType.STACK, element: div,
      defaultOptions: { background: [0, 0, 0] as Types.Point3 } });
    const group = ToolGroupManager.createToolGroup(ids.tools)!;
    for (const name of [WindowLevelTool.toolName, PanTool.toolName, ZoomTool.toolName, StackScrollTool.toolName,
      ...Object.values(TOOL_NAMES)]) {
      group.addTool(name);
    }
    // Sizes are shown as the server computes them (labeling/geometry.ts), not by Cornerstone's own stats,
    // which label an ultrasound region's square pixels as cm².
    const ownText = (data: { cardiocrowdText?: string }) => (data.cardiocrowdText ? [data.cardiocrowdText] : []);
    for (const name of Object.values(TOOL_NAMES)) {
      group.setToolConfiguration(name, { getTextLines: ownText });
    }
    group.addToolInstance(BRUSH, BrushTool.toolName, { activeStrategy: "FILL_INSIDE_CIRCLE" });
    group.addToolInstance(ERASER, BrushTool.toolName, { activeStrategy: "ERASE_INSIDE_CIRCLE" });
    group.addViewport(ids.viewport, ids.engine);
    const { MouseBindings } = ToolsEnums;
    group.setToolActive(PanTool.toolName, { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
    group.setToolActive(ZoomTool.toolName, { bindings: [{ mouseButton: MouseBindings.Secondary }] });
    group.setToolActive(StackScrollTool.toolName, { bindings: [{ mouseButton: MouseBindings.Wheel }] });
    for (const name of Object.values(TOOL_NAMES)) group.setToolPassive(name);
    const resize = new ResizeObserver(() => renderingEngine.resize(true, true));
    resize.observe(div);
    return () => {
      resize.disconnect();
      toolsUtils.cine.stopClip(div);
      ToolGroupManager.destroyToolGroup(ids.tools);
      if (labelmapIds.current.length) segmentation.removeSegmentation(ids.segmentation);
      renderingEngine.destroy();
      engine.current = null;
    };
  }, [ids]);

  // Load the item's instances, show the first frame as soon as it arrives, then prefetch the rest.
  const instanceKey = instances.map((instance) => instance.sop_instance_uid).join(",");
  useEffect(() => {
    const div = element.current!;
    const started = performance.now();
    let firstRendered = false;
    let cancelled = false;
    setReady(false);
    setError(null);
    setCached(0);
    setPlaying(false);
    toolsUtils.cine.stopClip(div);
    annotations.state.removeAllAnnotations();
    shown.current.clear();
    const onRendered = () => {
      if (firstRendered) return;
      firstRendered = true;
      recordMetric("firstImageMs", performance.now() - started);
      recordMetric("firstImageSinceNavigationMs", performance.now());
    };
    div.addEventListener(Enums.Events.IMAGE_RENDERED, onRendered);
    (async () => {
      try {
        const items = await Promise.all(instances.map((instance) => loadInstance(instance)));
        if (cancelled) return;
        loaded.current = items;
        stack.current = stackOf(items);
        const imageIds = stack.current.map((entry) => entry.imageId);
        setFrames(imageIds.length);
        setFps(items[0]?.framesPerSecond ?? null);
        const view = viewport();
        if (!view) return;
        await view.setStack(imageIds, 0);
        const window = recommendedWindow(items[0].metadata);
        if (window && items[0].metadata["00280004"]?.Value?.[0] === "MONOCHROME2") {
          view.setProperties({ voiRange: csUtils.windowLevel.toLowHighRange(window.width, window.center) });
        }
        view.render();
        if (cancelled) return;
        setIndex(0);
        setReady(true);
        const position = positionAt(0);
        if (position) callbacks.current.onPosition?.(position);
        if (maskEnabled) createLabelmap(imageIds);
        prefetch(imageIds, () => cancelled, (count) => setCached(count));
      } catch (failure) {
        if (!cancelled) setError((failure as Error).message);
      }
    })();
    return () => {
      cancelled = true;
      div.removeEventListener(Enums.Events.IMAGE_RENDERED, onRendered);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [instanceKey]);

  function createLabelmap(imageIds: string[]) {
    if (labelmapIds.current.length) segmentation.removeSegmentation(ids.segmentation);
    const derived = imageLoader.createAndCacheDerivedLabelmapImages(imageIds);
    labelmapIds.current = derived.map((image) => image.imageId);
    segmentation.addSegmentations([{
      segmentationId: ids.segmentation,
      representation: { type: ToolsEnums.SegmentationRepresentations.Labelmap, data: { imageIds: labelmapIds.current } },
    }] as never);
    segmentation.addLabelmapRepresentationToViewport(ids.viewport, [{ segmentationId: ids.segmentation }] as never);
    segmentation.activeSegmentation.setActiveSegmentation(ids.viewport, ids.segmentation);
    segmentation.segmentIndex.setActiveSegmentIndex(ids.segmentation, SEGMENT);
  }

  // Follow the frame shown; count the frames actually displayed while cine plays (2 s windows).
  useEffect(() => {
    const div = element.current!;
    const onNewImage = (event: Event) => {
      const detail = (event as CustomEvent).detail as { imageIdIndex: number };
      setIndex(detail.imageIdIndex);
      const position = positionAt(detail.imageIdIndex);
      if (position) callbacks.current.onPosition?.(position);
      const window = cineWindow.current;
      if (!playingRef.current) return;
      window.frames += 1;
      const elapsed = performance.now() - window.start;
      if (elapsed > 2000) {
        recordMetric("cineFps", (window.frames * 1000) / elapsed);
        cineWindow.current = { start: performance.now(), frames: 0 };
      }
    };
    div.addEventListener(Enums.Events.STACK_NEW_IMAGE, onNewImage);
    return () => div.removeEventListener(Enums.Events.STACK_NEW_IMAGE, onNewImage);
  }, [positionAt]);

  // The primary mouse button's tool.
  useEffect(() => {
    const group = ToolGroupManager.getToolGroup(ids.tools);
    if (!group) return;
    const { MouseBindings } = ToolsEnums;
    const primary = [{ mouseButton: MouseBindings.Primary }];
    const active = group.getActivePrimaryMouseButtonTool();
    if (active) group.setToolPassive(active);
    for (const name of [WindowLevelTool.toolName, BRUSH, ERASER]) {
      if (group.hasTool(name) && name !== active) group.setToolDisabled(name);
    }
    if (active === BRUSH || active === ERASER || active === WindowLevelTool.toolName) group.setToolDisabled(active);
    for (const name of Object.values(TOOL_NAMES)) group.setToolPassive(name);
    if (tool === "brush" || tool === "eraser") {
      group.setToolActive(tool === "brush" ? BRUSH : ERASER, { bindings: primary });
    } else if (tool === "WindowLevel" || tool === "Pan" || tool === "Zoom") {
      group.setToolActive(tool === "WindowLevel" ? WindowLevelTool.toolName : tool === "Pan" ? PanTool.toolName
        : ZoomTool.toolName, { bindings: tool === "Pan" ? [...primary, { mouseButton: MouseBindings.Auxiliary }]
        : tool === "Zoom" ? [...primary, { mouseButton: MouseBindings.Secondary }] : primary });
    } else {
      group.setToolActive(TOOL_NAMES[tool], { bindings: primary });
    }
  }, [tool, ids]);

  useEffect(() => {
    toolsUtils.segmentation.setBrushSizeForToolGroup(ids.tools, brushRadiusMm);
  }, [brushRadiusMm, ids]);

  // What the worker draws or edits comes back as pixel shapes; the screen decides what it becomes.
  useEffect(() => {
    const report = (raw: any) => {
      const imageId: string | undefined = raw?.metadata?.referencedImageId;
      const kind = KIND_OF_TOOL[raw?.metadata?.toolName];
      const entry = stack.current.find((candidate) => candidate.imageId === imageId);
      if (!kind || !entry || !imageId) return false;
      const points = annotationPoints(kind, imageId, raw.data);
      const existing = shown.current.get(raw.annotationUID);
      if (existing?.locked) return true;
      if (existing && samePoints(existing.points, points)) return true;
      const instance = loaded.current[entry.instance].ref.sop_instance_uid;
      callbacks.current.onDrawn?.({ id: existing ? existing.id : null, kind, instance, frame: entry.frame, points });
      return true;
    };
    const onCompleted = (event: Event) => {
      const raw = (event as CustomEvent).detail.annotation;
      if (!report(raw) || shown.current.has(raw.annotationUID)) return;
      // A new drawing: the screen turns it into a shape of its own, so Cornerstone's copy goes.
      annotations.state.removeAnnotation(raw.annotationUID);
      toolsUtils.triggerAnnotationRenderForViewportIds([ids.viewport]);
    };
    let pending: ReturnType<typeof setTimeout> | undefined;
    const onModified = (event: Event) => {
      const raw = (event as CustomEvent).detail.annotation;
      if (!shown.current.has(raw?.annotationUID)) return;
      clearTimeout(pending);
      pending = setTimeout(() => report(raw), 250);
    };
    const completed = ToolsEnums.Events.ANNOTATION_COMPLETED;
    const modified = ToolsEnums.Events.ANNOTATION_MODIFIED;
    eventTarget.addEventListener(completed, onCompleted);
    eventTarget.addEventListener(modified, onModified);
    return () => {
      clearTimeout(pending);
      eventTarget.removeEventListener(completed, onCompleted);
      eventTarget.removeEventListener(modified, onModified);
    };
  }, [ids]);

  // Show exactly `shapes`: add what is new or changed, remove what is gone.
  useEffect(() => {
    if (!ready) return;
    const div = element.current!;
    const view = viewport();
    const wanted = new Map(shapes.map((shape) => [shape.id, shape]));
    for (const [id, previous] of shown.current) {
      const next = wanted.get(id);
      if (!next || next.color !== previous.color || next.locked !== previous.locked || !samePoints(next.points, previous.points)
        || next.frame !== previous.frame || next.instance !== previous.instance) {
        annotations.state.removeAnnotation(id);
        shown.current.delete(id);
      }
    }
    for (const shape of shapes) {
      if (shown.current.has(shape.id)) continue;
      const instanceIndex = loaded.current.findIndex((instance) => instance.ref.sop_instance_uid === shape.instance);
      const entry = stack.current.find((candidate) => candidate.instance === instanceIndex && candidate.frame === shape.frame);
      if (!entry || shape.points.length === 0) continue;
      annotations.state.addAnnotation(annotationFor(shape, entry.imageId, view?.getFrameOfReferenceUID(),
        loaded.current[instanceIndex].calibration), div);
      annotations.locking.setAnnotationLocked(shape.id, shape.locked);
      annotations.config.style.setAnnotationStyles(shape.id, {
        color: shape.color, colorLocked: shape.color, lineWidth: shape.locked ? "1.5" : "2",
        lineDash: shape.locked ? "4,3" : "", textBoxColor: shape.color, textBoxColorLocked: shape.color,
      } as never);
      shown.current.set(shape.id, shape);
    }
    toolsUtils.triggerAnnotationRenderForViewportIds([ids.viewport]);
  }, [shapes, ready, ids, viewport]);

  // Brush strokes become the field's mask (one frame); a mask handed in (undo, a pre-label) is painted.
  useEffect(() => {
    if (!maskEnabled) return;
    let pending: ReturnType<typeof setTimeout> | undefined;
    const onModified = () => {
      if (applyingMask.current) return;
      clearTimeout(pending);
      pending = setTimeout(() => {
        const current = viewport()?.getCurrentImageIdIndex() ?? 0;
        const labelmapId = labelmapIds.current[current];
        const image = labelmapId ? cache.getImage(labelmapId) : undefined;
        const entry = stack.current[current];
        if (!image || !entry) return;
        const instance = loaded.current[entry.instance];
        // One mask per field: painting another frame starts over there.
        labelmapIds.current.forEach((id, position) => {
          if (position !== current) cache.getImage(id)?.voxelManager?.getScalarData().fill(0);
        });
        const data = image.voxelManager!.getScalarData() as ArrayLike<number>;
        const rle = encodeRle(data);
        const painted: PaintedMask | null = rle.length > 1
          ? { instance: instance.ref.sop_instance_uid, frame: entry.frame, rows: instance.rows, columns: instance.columns, rle }
          : null;
        emittedMask.current = JSON.stringify(painted);
        callbacks.current.onMaskPainted?.(painted);
      }, 200);
    };
    const event = ToolsEnums.Events.SEGMENTATION_DATA_MODIFIED;
    eventTarget.addEventListener(event, onModified);
    return () => {
      clearTimeout(pending);
      eventTarget.removeEventListener(event, onModified);
    };
  }, [maskEnabled, viewport]);

  useEffect(() => {
    if (!maskEnabled || !ready || !labelmapIds.current.length) return;
    const wanted = JSON.stringify(mask ?? null);
    if (wanted === emittedMask.current) return;
    emittedMask.current = wanted;
    applyingMask.current = true;
    for (const id of labelmapIds.current) cache.getImage(id)?.voxelManager?.getScalarData().fill(0);
    if (mask) {
      const instanceIndex = loaded.current.findIndex((instance) => instance.ref.sop_instance_uid === mask.instance);
      const position = stack.current.findIndex((entry) => entry.instance === instanceIndex && entry.frame === mask.frame);
      const image = position >= 0 ? cache.getImage(labelmapIds.current[position]) : undefined;
      image?.voxelManager?.getScalarData().set(decodeRle(mask.rle, mask.rows * mask.columns));
    }
    segmentation.triggerSegmentationEvents.triggerSegmentationDataModified(ids.segmentation);
    setTimeout(() => { applyingMask.current = false; }, 300);
  }, [mask, maskEnabled, ready, ids]);

  const goToIndex = useCallback((target: number) => {
    const view = viewport();
    if (!view || !stack.current.length) return;
    const clamped = Math.min(Math.max(target, 0), stack.current.length - 1);
    void view.setImageIdIndex(clamped);
  }, [viewport]);

  const togglePlay = useCallback(() => {
    const div = element.current!;
    if (playingRef.current) {
      toolsUtils.cine.stopClip(div);
      setPlaying(false);
    } else if (stack.current.length > 1) {
      cineWindow.current = { start: performance.now(), frames: 0 };
      playingRef.current = true;
      toolsUtils.cine.playClip(div, { framesPerSecond: fps ?? 25, loop: true });
      setPlaying(true);
    }
  }, [fps]);

  const reset = useCallback(() => {
    const view = viewport();
    if (!view) return;
    view.resetCamera();
    view.resetProperties();
    const window = loaded.current[0] ? recommendedWindow(loaded.current[0].metadata) : null;
    if (window && loaded.current[0].metadata["00280004"]?.Value?.[0] === "MONOCHROME2") {
      view.setProperties({ voiRange: csUtils.windowLevel.toLowHighRange(window.width, window.center) });
    }
    view.render();
  }, [viewport]);

  useImperativeHandle(ref, () => ({
    goTo(instance, frame) {
      const instanceIndex = loaded.current.findIndex((candidate) => candidate.ref.sop_instance_uid === instance);
      goToIndex(stack.current.findIndex((entry) => entry.instance === instanceIndex && entry.frame === frame));
    },
    step(delta) {
      if (playingRef.current) togglePlay();
      goToIndex((viewport()?.getCurrentImageIdIndex() ?? index) + delta);
    },
    togglePlay,
    reset,
    position: () => positionAt(index),
  }), [goToIndex, index, togglePlay, reset, positionAt, viewport]);

  const position = positionAt(index);
  const multiFrame = frames > 1;
  const calibration = position?.calibration ?? null;
  return (
    <section className="viewer" aria-label={label}>
      <div className="viewer-stage">
        <div ref={element} className="viewer-canvas" onContextMenu={(event) => event.preventDefault()}
          data-testid="viewer-canvas" data-ready={ready ? "true" : "false"} data-frame={position?.frame ?? 0} />
        {!ready && !error && <div className="viewer-overlay" role="status">Loading image…</div>}
        {error && <div className="viewer-overlay error" role="alert">{error}</div>}
        {position && (
          <div className="viewer-corner" aria-hidden="true">
            {loaded.current.length > 1 && <>Image {position.instanceIndex + 1}/{loaded.current.length} · </>}
            Frame {position.frame}/{position.frames}
            {calibration ? ` · ${calibration.columnMm.toFixed(2)} mm/px` : " · uncalibrated (px)"}
          </div>
        )}
      </div>
      <div className="viewer-controls">
        <button type="button" onClick={togglePlay} disabled={!multiFrame} aria-pressed={playing}
          title="Play or pause the cine (Space)">{playing ? "❚❚ Pause" : "▶ Play"}</button>
        <button type="button" onClick={() => goToIndex(index - 1)} disabled={!multiFrame} title="Previous frame (←)">◀</button>
        <input type="range" min={0} max={Math.max(frames - 1, 0)} value={index} disabled={!multiFrame}
          aria-label="Frame" onChange={(event) => { if (playing) togglePlay(); goToIndex(Number(event.target.value)); }} />
        <button type="button" onClick={() => goToIndex(index + 1)} disabled={!multiFrame} title="Next frame (→)">▶</button>
        <span className="viewer-frame" aria-live="off">{frames ? `${index + 1} / ${frames}` : ""}</span>
        {fps && multiFrame ? <span className="viewer-fps">{fps.toFixed(0)} fps</span> : null}
        <button type="button" onClick={reset} title="Reset zoom, pan and window (R)">Reset</button>
        {frames > 0 && cached < frames && (
          <progress className="viewer-progress" max={frames} value={cached} aria-label="Frames loaded">
            {cached}/{frames}
          </progress>
        )}
      </div>
    </section>
  );
});

/** Load every frame into the cache in order (cine plays only over cached frames), reporting progress. */
function prefetch(imageIds: string[], cancelled: () => boolean, progress: (count: number) => void): void {
  let done = 0;
  let next = 0;
  const concurrency = 6;
  const pump = () => {
    if (cancelled() || next >= imageIds.length) return;
    const imageId = imageIds[next];
    next += 1;
    imageLoader.loadAndCacheImage(imageId).then(() => {
      done += 1;
      progress(done);
    }, () => undefined).finally(pump);
  };
  for (let worker = 0; worker < concurrency; worker += 1) pump();
}

/** The size of a shape as the worker reads it: a length, an area, an angle, or a count of points. */
export function describeShape(kind: DrawingKind, points: Point[], calibration: Calibration | null): string {
  if (kind === "length" && points.length === 2) return formatLength(segmentLength(points[0], points[1], calibration), calibration);
  if (kind === "contour" && points.length >= 3) return formatArea(polygonAreaMm2(points, calibration), calibration);
  if (kind === "angle" && points.length === 3) return `${angleDegrees(points[0], points[1], points[2], calibration).toFixed(1)}°`;
  if (kind === "bounding_box" && points.length === 2) {
    const [[x0, y0], [x1, y1]] = points;
    return formatArea(polygonAreaMm2([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], calibration), calibration);
  }
  return "";
}
