/// <reference types="vitest/config" />
// The browser app, built into static/frontend/ with a manifest that Django's shell page reads
// (frontend/templatetags/vite.py). Cornerstone3D needs the `events` polyfill (a vtk.js
// dependency extends EventEmitter at load) and ES-module workers for its image decoders.
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

export default defineConfig({
  base: "/static/frontend/",
  plugins: [react()],
  build: {
    outDir: "static/frontend",
    emptyOutDir: true,
    manifest: true,
    rollupOptions: { input: "src/main.tsx" },
    chunkSizeWarningLimit: 8000,
  },
  worker: { format: "es" },
  test: {
    environment: "jsdom",
    globals: true,
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
  },
});
