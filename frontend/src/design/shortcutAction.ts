// What a schema's keyboard shortcut does to an answer being entered (labeling/shortcuts.ts assigns
// the keys): pick or toggle a choice, mark a frame at the frame shown, or pick a drawing tool.
import type { Draft, DraftValue } from "../labeling/answers";
import type { Shortcuts } from "../labeling/shortcuts";
import type { Schema } from "../types";

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
