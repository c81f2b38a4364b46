import { defineConfig } from "vite";

// Served by dbaasd at /ui/ (src/api/dashboard_routes.cc): every asset from the daemon, no
// inline script or style, so that `Content-Security-Policy: default-src 'self'` holds.
export default defineConfig({
  base: "/ui/",
  build: { outDir: "dist", emptyOutDir: true, assetsInlineLimit: 0 },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
});
