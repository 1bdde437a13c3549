import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';
// @ts-ignore: a plain JS helper (Node APIs), see the file
import { gzipAssets } from './scripts/gzip-assets.mjs';

// Django serves build/index.html for every non-/api path and build/assets/* as static files.
export default defineConfig({
  plugins: [preact(), gzipAssets()],
  base: '/',
  build: {
    outDir: 'build',
    emptyOutDir: true,
    target: 'es2020',
    modulePreload: { polyfill: false },
    sourcemap: false,
  },
  server: {
    // `npm run dev` against a local `zerg serve` (its default port, 8080).
    proxy: {
      '/api': 'http://127.0.0.1:8080',
      '/ws': { target: 'ws://127.0.0.1:8080', ws: true },
    },
  },
});
