/**
 * Bundles the dashboard into client/dashboard/dist/ for a package (`npm pack` runs it): an install
 * without dev dependencies has no esbuild to bundle it on first serve, and serves this instead.
 * A checkout never needs it: the server bundles the dashboard itself (src/server/static.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bundleDashboard } from '../src/server/static.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const { js, css } = bundleDashboard(root);
mkdirSync(`${root}client/dashboard/dist`, { recursive: true });
writeFileSync(`${root}client/dashboard/dist/dashboard.js`, js);
writeFileSync(`${root}client/dashboard/dist/dashboard.css`, css);
console.log(`client/dashboard/dist: dashboard.js ${js.length} bytes, dashboard.css ${css.length} bytes`);
