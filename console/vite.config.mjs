// Builds the web console into console/dist, served by the IMS server at /console.
// `npx vite --config console/vite.config.mjs` runs a dev server that forwards
// API calls to IMS_URL (default http://127.0.0.1:9292).
/* global process, URL */
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const target = process.env.IMS_URL ?? 'http://127.0.0.1:9292';

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/console/',
  plugins: [react()],
  // The SDK lives beside the console, one level up.
  server: {
    fs: { allow: ['..'] },
    proxy: Object.fromEntries(['/v1', '/v2', '/v3'].map((p) => [p, target])),
  },
  build: {
    outDir: process.env.IMS_CONSOLE_OUT ?? 'dist',
    emptyOutDir: true,
    sourcemap: false,
    // One module script, no inline code: the page's CSP allows scripts from 'self' only.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    reportCompressedSize: false,
  },
});
