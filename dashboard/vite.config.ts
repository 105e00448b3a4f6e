// Vite builds the dashboard into ../build/dashboard (TALLY_DASHBOARD_OUT overrides it, e.g. for
// another build dir), which `tally serve` serves at / and /assets/*. For development,
// `TALLY_API=http://127.0.0.1:8000 npm run dev` (or `preview`) proxies /api to a running node.
import { resolve } from 'node:path';
import { defineConfig } from 'vite';

const api = process.env.TALLY_API;
const proxy = api ? { '/api': { target: api, changeOrigin: false } } : undefined;

export default defineConfig({
  base: '/',
  build: {
    outDir: resolve(__dirname, process.env.TALLY_DASHBOARD_OUT ?? '../build/dashboard'),
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2022',
  },
  server: { proxy },
  preview: { proxy },
});
