import { useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError } from "../api";

export interface Loaded<T> { data: T | null; error: string | null; loading: boolean; reload: () => void }

/** GET `path` (null: nothing to load) and keep the result; `reload` fetches again. */
export function useApi<T>(path: string | null): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: string | null; loading: boolean }>(
    { data: null, error: null, loading: path !== null });
  const [version, setVersion] = useState(0);
  useEffect(() => {
    if (path === null) return;
    const controller = new AbortController();
    setState((previous) => ({ ...previous, loading: true }));
    api<T>(path, { signal: controller.signal }).then(
      (data) => setState({ data, error: null, loading: false }),
      (error) => {
        if (controller.signal.aborted) return;
        setState({ data: null, error: error instanceof ApiError ? error.message : String(error), loading: false });
      });
    return () => controller.abort();
  }, [path, version]);
  const reload = useCallback(() => setVersion((value) => value + 1), []);
  return { ...state, reload };
}

/** Run `callback` every `ms` while `active`. */
export function useInterval(callback: () => void, ms: number, active = true): void {
  const saved = useRef(callback);
  saved.current = callback;
  useEffect(() => {
    if (!active) return;
    const timer = setInterval(() => saved.current(), ms);
    return () => clearInterval(timer);
  }, [ms, active]);
}

/** Keyboard shortcuts for the page, ignored while the user types in a field. */
export function useShortcuts(handler: (event: KeyboardEvent) => void, active = true): void {
  const saved = useRef(handler);
  saved.current = handler;
  useEffect(() => {
    if (!active) return;
    const listener = (event: KeyboardEvent) => {
      const target = event.target as HTMLElement | null;
      if (target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName))) {
        if (event.key !== "Escape" && !(event.key === "Enter" && (event.ctrlKey || event.metaKey))) return;
      }
      if (event.altKey) return;
      saved.current(event);
    };
    window.addEventListener("keydown", listener);
    return () => window.removeEventListener("keydown", listener);
  }, [active]);
}
