// Exit 0 when a build output is newer than every one of its inputs, else 1; for the package's
// install and prepare scripts, which npm also runs when `npx netmon` installs this checkout into
// its cache. Without it, the first `npx netmon` rebuilt dist/ and the native addon in place (about
// 11 s), failed for a user who may not write the checkout, and a failed native rebuild left no
// addon behind.
//
// usage: node scripts/up-to-date.mjs OUTPUT INPUT...   (an INPUT may be a directory: every file in it)
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function newestInput(path) {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return Infinity; // an input that is missing: rebuild, and let the build say why
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestInput(join(path, name)));
  return newest;
}

const [output, ...inputs] = process.argv.slice(2);
if (output === undefined || inputs.length === 0) {
  console.error('usage: node scripts/up-to-date.mjs OUTPUT INPUT...');
  process.exit(2);
}
const built = statSync(output, { throwIfNoEntry: false });
const fresh = built !== undefined && inputs.every((input) => newestInput(input) <= built.mtimeMs);
process.exit(fresh ? 0 : 1);
