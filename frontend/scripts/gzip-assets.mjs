// Vite plugin: writes name.gz next to every built .js/.css. whitenoise serves it in place of name to
// browsers that accept gzip, so the first load of the app on a phone moves about a third of the bytes.
// Deterministic (Node's gzip writes mtime 0), like the rest of build/. Plain JS: Node's types are not
// part of this project.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export function gzipAssets() {
  return {
    name: 'zerg-gzip-assets',
    apply: 'build',
    writeBundle(options, bundle) {
      for (const name of Object.keys(bundle)) {
        if (!/\.(js|css)$/.test(name)) continue;
        const file = join(options.dir, name);
        writeFileSync(file + '.gz', gzipSync(readFileSync(file), { level: 9 }));
      }
    },
  };
}
