import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // `import … from 'livegrad'` in tests and docs examples means this checkout's source.
    // (exact matches: 'livegrad/client' is the client library's own entry)
    alias: [
      { find: /^livegrad$/, replacement: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
      { find: /^livegrad\/client$/, replacement: fileURLToPath(new URL('./src/client/index.ts', import.meta.url)) },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    // CI also writes a JSON report, from which .ci/run prints its one-line summary
    reporters: process.env['CI'] ? ['default', 'json'] : ['default'],
    outputFile: { json: 'test/.artifacts/vitest.json' },
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});
