// Undo and redo over the worker's draft. Typing in one text field coalesces into one step.
import { useCallback, useMemo, useRef, useState } from "react";

export interface History<T> {
  current: T;
  push: (value: T, coalesce?: string) => void;
  undo: () => void;
  redo: () => void;
  reset: (value: T) => void;
  canUndo: boolean;
  canRedo: boolean;
}

const MAX_STEPS = 200;

export function useHistory<T>(initial: T): History<T> {
  const [state, setState] = useState({ steps: [initial], cursor: 0 });
  const lastTag = useRef<string | undefined>(undefined);
  const push = useCallback((value: T, coalesce?: string) => {
    setState(({ steps, cursor }) => {
      const kept = steps.slice(0, cursor + 1);
      if (coalesce && coalesce === lastTag.current && kept.length > 1) kept[kept.length - 1] = value;
      else kept.push(value);
      lastTag.current = coalesce;
      const trimmed = kept.slice(-MAX_STEPS);
      return { steps: trimmed, cursor: trimmed.length - 1 };
    });
  }, []);
  const undo = useCallback(() => {
    lastTag.current = undefined;
    setState(({ steps, cursor }) => ({ steps, cursor: Math.max(0, cursor - 1) }));
  }, []);
  const redo = useCallback(() => {
    lastTag.current = undefined;
    setState(({ steps, cursor }) => ({ steps, cursor: Math.min(steps.length - 1, cursor + 1) }));
  }, []);
  const reset = useCallback((value: T) => {
    lastTag.current = undefined;
    setState({ steps: [value], cursor: 0 });
  }, []);
  return useMemo(() => ({
    current: state.steps[state.cursor], push, undo, redo, reset,
    canUndo: state.cursor > 0, canRedo: state.cursor < state.steps.length - 1,
  }), [state, push, undo, redo, reset]);
}
