/**
 * The live dashboard (client/dashboard), served by the server at `/` and `/dashboard/…`: its page,
 * and its TypeScript bundled for the browser by esbuild — uPlot, `livegrad/client` and all — into
 * one script and one stylesheet that need nothing from the internet.
 *
 * When it is bundled: on the first serve after a change. A server reads the bundle from a cache
 * (node_modules/.cache/livegrad-dashboard/), which it uses while every file that went into it is
 * unchanged (SHA-256 of each, listed beside the bundle); else it bundles again (buildSync, a few
 * hundred ms) and writes the cache. So `npm start` and the tests need no build step, and an edit
 * to the dashboard shows on the next server start. A package without esbuild (an install without
 * dev dependencies) serves the bundle `npm pack` left in client/dashboard/dist/.
 *
 * The set of files is fixed and read when the server is created: no path from a request ever
 * reaches the file system.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface StaticFile {
  readonly type: string;
  readonly body: Buffer;
}

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

/** Where client/dashboard is, from this file in src/server/ (tsx) or in dist/src/server/ (built). */
function dashboardDir(): string | undefined {
  for (const up of ['../../client/dashboard/', '../../../client/dashboard/']) {
    const dir = fileURLToPath(new URL(up, import.meta.url));
    if (existsSync(`${dir}index.html`)) return dir;
  }
  return undefined;
}

/** The bundle: the page's script and stylesheet. */
export interface DashboardBundle {
  readonly js: Buffer;
  readonly css: Buffer;
}

interface Manifest {
  /** Every input of the bundle (paths relative to the package root) with its SHA-256. */
  readonly inputs: Readonly<Record<string, string>>;
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');

/**
 * Bundles client/dashboard/src/main.ts for the browser (ES2022 module, minified) with the
 * esbuild of this checkout. Throws when esbuild is not installed.
 *
 * @param root  the package root (client/, src/ and node_modules/ under it)
 */
export function bundleDashboard(root: string): DashboardBundle & { readonly inputs: readonly string[] } {
  const { buildSync } = createRequire(join(root, 'package.json'))('esbuild') as typeof import('esbuild');
  const result = buildSync({
    absWorkingDir: root,
    entryPoints: { dashboard: 'client/dashboard/src/main.ts' },
    alias: { 'livegrad/client': './src/client/index.ts' },
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: true,
    legalComments: 'none',
    outdir: 'out',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  const output = (ext: string): Buffer => Buffer.from(result.outputFiles.find((f) => f.path.endsWith(ext))?.contents ?? new Uint8Array());
  return { js: output('.js'), css: output('.css'), inputs: Object.keys(result.metafile.inputs) };
}

/** The bundle from the cache when every input is unchanged, else bundled now and cached. */
function cachedBundle(root: string): DashboardBundle | undefined {
  const cache = join(root, 'node_modules', '.cache', 'livegrad-dashboard');
  if (!existsSync(join(root, 'node_modules', 'esbuild'))) return undefined;
  try {
    const manifest = JSON.parse(readFileSync(join(cache, 'manifest.json'), 'utf8')) as Manifest;
    const fresh = Object.entries(manifest.inputs).every(([file, hash]) => existsSync(join(root, file)) && sha256(join(root, file)) === hash);
    if (fresh) return { js: readFileSync(join(cache, 'dashboard.js')), css: readFileSync(join(cache, 'dashboard.css')) };
  } catch {
    // NOTE: no cache yet, or one from an older layout: bundling again replaces it
  }
  const bundle = bundleDashboard(root);
  const inputs = Object.fromEntries(bundle.inputs.map((file) => [file, sha256(join(root, file))]));
  mkdirSync(cache, { recursive: true });
  // each file is written whole and renamed into place: servers starting together never read half of one
  const write = (name: string, body: Buffer | string): void => {
    const tmp = join(cache, `${name}.${process.pid}.tmp`);
    writeFileSync(tmp, body);
    renameSync(tmp, join(cache, name));
  };
  write('dashboard.js', bundle.js);
  write('dashboard.css', bundle.css);
  write('manifest.json', JSON.stringify({ inputs } satisfies Manifest));
  return bundle;
}

/** The bundle `npm pack` leaves in client/dashboard/dist/ (scripts/build-dashboard.ts). */
function packedBundle(dir: string): DashboardBundle | undefined {
  const js = join(dir, 'dist', 'dashboard.js');
  const css = join(dir, 'dist', 'dashboard.css');
  return existsSync(js) && existsSync(css) ? { js: readFileSync(js), css: readFileSync(css) } : undefined;
}

/** The dashboard's files by URL path; empty when the client folder is not installed. */
export function loadDashboard(): ReadonlyMap<string, StaticFile> {
  const dir = dashboardDir();
  const files = new Map<string, StaticFile>();
  if (dir === undefined) return files;
  const root = resolve(dir, '..', '..');
  const bundle = (existsSync(join(dir, 'src', 'main.ts')) ? cachedBundle(root) : undefined) ?? packedBundle(dir);
  if (bundle === undefined) return files;
  files.set('/', { type: 'text/html; charset=utf-8', body: readFileSync(join(dir, 'index.html')) });
  files.set('/dashboard/dashboard.js', { type: JS, body: bundle.js });
  files.set('/dashboard/dashboard.css', { type: CSS, body: bundle.css });
  return files;
}

/** Headers for dashboard files: the page may load only its own scripts and talk only to its own server. */
export const DASHBOARD_HEADERS = {
  'content-security-policy': "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'",
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-cache',
} as const;

