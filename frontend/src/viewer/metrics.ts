// Timings the browser suite reads (tests/e2e): time to first image and cine frame rate. Kept on
// window so a test can read them without the app exposing anything else.
declare global {
  interface Window { cardiocrowdMetrics?: Record<string, number[]> }
}

export function recordMetric(name: string, value: number): void {
  const metrics = (window.cardiocrowdMetrics ??= {});
  (metrics[name] ??= []).push(Math.round(value * 10) / 10);
}
