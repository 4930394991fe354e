// Keyboard shortcuts for every choice and tool of a schema: the admin's where given, otherwise
// free keys from a pool that avoids the keys the screen itself uses.
import type { Schema } from "../types";
import { optionsOf, SPATIAL_KINDS, type Draft, type DraftValue } from "./answers";

/** Keys the labeling screen keeps for itself (see LabelingScreen's key map). */
export const RESERVED_KEYS = new Set([" ", "arrowleft", "arrowright", "enter", "escape", "r", "v", "p", "z", "b", "x",
  "[", "]", "?", "s", "i"]);
const POOL = ["q", "w", "e", "t", "a", "d", "f", "g", "h", "j", "k", "l", "c", "m", "n", "o", "u", "y"];
const DIGITS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0"];

export interface Shortcuts {
  /** key pressed → what it does */
  byKey: Map<string, { field: string; option?: string; frameLabel?: string }>;
  /** field → its key (tools), "field:option" → key, "field:label" → key (frame marks) */
  forField: Map<string, string>;
}

export function assignShortcuts(schema: Schema): Shortcuts {
  const byKey: Shortcuts["byKey"] = new Map();
  const forField = new Map<string, string>();
  const taken = (key: string) => byKey.has(key) || RESERVED_KEYS.has(key);
  const claim = (key: string, target: { field: string; option?: string; frameLabel?: string }, name: string) => {
    byKey.set(key, target);
    forField.set(name, key);
  };
  // The admin's own shortcuts first, so defaults never take them.
  for (const field of schema.fields) {
    if (field.shortcut && !taken(field.shortcut.toLowerCase())) claim(field.shortcut.toLowerCase(), { field: field.key }, field.key);
    for (const option of optionsOf(field)) {
      const key = option.shortcut?.toLowerCase();
      if (key && field.options && !taken(key)) claim(key, { field: field.key, option: option.value }, `${field.key}:${option.value}`);
    }
  }
  const next = (candidates: string[]) => candidates.find((key) => !taken(key));
  const choiceFields = schema.fields.filter((field) => optionsOf(field).length > 0);
  for (const field of choiceFields) {
    // Digits go to the first choice field without shortcuts of its own; letters to the rest.
    const pool = choiceFields.indexOf(field) === 0 ? [...DIGITS, ...POOL] : POOL;
    for (const option of optionsOf(field)) {
      const name = `${field.key}:${option.value}`;
      if (forField.has(name)) continue;
      const preferred = field.kind === "yes_no_unsure" ? option.shortcut : undefined;
      const key = preferred && !taken(preferred) ? preferred : next(pool);
      if (key) claim(key, { field: field.key, option: option.value }, name);
    }
  }
  for (const field of schema.fields) {
    if (SPATIAL_KINDS.has(field.kind) && !forField.has(field.key)) {
      const key = next(POOL);
      if (key) claim(key, { field: field.key }, field.key);
    }
    if (field.kind === "frame_selection") {
      for (const label of field.labels ?? []) {
        const initial = label[0]?.toLowerCase();
        const key = next([...(initial ? [initial] : []), ...POOL]);
        if (key) claim(key, { field: field.key, frameLabel: label }, `${field.key}:${label}`);
      }
    }
  }
  return { byKey, forField };
}

export function keyLabel(key: string | undefined): string {
  return key ? key.toUpperCase() : "";
}

/** What a shortcut does to the answer being entered: pick or toggle a choice, mark a frame at the
 * frame shown, or pick a drawing tool. Null for a key that is no shortcut of the schema. */
export type ShortcutAction =
  | { kind: "set"; field: string; value: DraftValue }
  | { kind: "tool"; field: string }
  | null;

export function shortcutAction(schema: Schema, shortcuts: Shortcuts, draft: Draft, key: string,
  position: { instance: string; frame: number } | null): ShortcutAction {
  const target = shortcuts.byKey.get(key.toLowerCase());
  const field = target ? schema.fields.find((candidate) => candidate.key === target.field) : undefined;
  if (!target || !field) return null;
  if (target.option !== undefined) {
    if (field.kind === "multiple_choice") {
      const chosen = (draft[field.key] as string[] | undefined) ?? [];
      return { kind: "set", field: field.key, value: chosen.includes(target.option)
        ? chosen.filter((item) => item !== target.option) : [...chosen, target.option] };
    }
    return { kind: "set", field: field.key, value: target.option };
  }
  if (target.frameLabel) {
    if (!position) return null;
    const current = (draft[field.key] as Record<string, unknown> | undefined) ?? {};
    return { kind: "set", field: field.key,
      value: { ...current, [target.frameLabel]: position.frame, instance: position.instance } as DraftValue };
  }
  return { kind: "tool", field: field.key };
}
