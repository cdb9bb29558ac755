#!/usr/bin/env node
// The `livegrad` command: the built CLI (dist/src/cli.js) when there is one, else the TypeScript
// source through tsx (a fresh clone with devDependencies installed, no build needed).
import { existsSync } from 'node:fs';

const built = new URL('../dist/src/cli.js', import.meta.url);
let cli;
if (existsSync(built)) {
  cli = await import(built.href);
} else {
  const { tsImport } = await import('tsx/esm/api');
  cli = await tsImport('../src/cli.ts', import.meta.url);
}
process.exitCode = await cli.main(process.argv.slice(2));
process.exit();
