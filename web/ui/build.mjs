// Builds the browser terminal into a directory (default ../static, which
// package web embeds): app.js and app.css bundled and minified by esbuild,
// index.html and favicon.svg copied, the licences of the bundled packages
// collected in licenses.txt, and the V.42 caller dialgate.wasm built by the
// Go toolchain (go on PATH) with its wasm_exec.js. The output depends only
// on the sources, the locked packages and the Go toolchain version (no
// timestamps, no source maps), so rebuilding into another directory and
// comparing tells whether the embedded copy is current.
//
//   npm ci && node build.mjs [outdir]
import { build } from 'esbuild';
import { mkdir, readFile, writeFile, copyFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const out = resolve(process.argv[2] ?? join(here, '..', 'static'));
const bundled = ['@xterm/xterm', '@xterm/addon-fit', '@xterm/addon-unicode11'];

await mkdir(out, { recursive: true });

const common = {
  absWorkingDir: here,
  bundle: true,
  minify: true,
  legalComments: 'none', // collected in licenses.txt instead
  logLevel: 'warning',
  charset: 'utf8',
};
await build({
  ...common,
  entryPoints: ['src/main.js'],
  outfile: join(out, 'app.js'),
  format: 'iife',
  target: ['es2020', 'chrome90', 'firefox90', 'safari15'],
});
await build({
  ...common,
  entryPoints: ['src/app.css'],
  outfile: join(out, 'app.css'),
});
for (const f of ['index.html', 'favicon.svg']) await copyFile(join(here, f), join(out, f));

// The V.42 caller: web/wasm built for the browser with the Go toolchain,
// reproducibly (-trimpath, no VCS stamp, no build ID), and Go's
// wasm_exec.js from the same toolchain.
const root = resolve(here, '..', '..');
const goEnv = { ...process.env, GOOS: 'js', GOARCH: 'wasm', CGO_ENABLED: '0', GOFLAGS: '-mod=readonly' };
execFileSync('go', ['build', '-trimpath', '-buildvcs=false', '-ldflags=-s -w -buildid=',
  '-o', join(out, 'dialgate.wasm'), './web/wasm'], { cwd: root, env: goEnv, stdio: 'inherit' });
const goroot = execFileSync('go', ['env', 'GOROOT'], { cwd: root, env: goEnv }).toString().trim();
await copyFile(join(goroot, 'lib', 'wasm', 'wasm_exec.js'), join(out, 'wasm_exec.js'));

let licenses = 'Third-party software bundled into app.js and app.css.\n';
for (const name of bundled) {
  const dir = join(here, 'node_modules', name);
  const pkg = JSON.parse(await readFile(join(dir, 'package.json'), 'utf8'));
  licenses += `\n==== ${pkg.name} ${pkg.version} (${pkg.license})\n\n`;
  licenses += (await readFile(join(dir, 'LICENSE'), 'utf8')).trimEnd() + '\n';
}
await writeFile(join(out, 'licenses.txt'), licenses);
