// Writes the PNG icons in public/ (same drawing as public/icon.svg). Run: node scripts/make-icons.mjs
import { writeFileSync } from 'node:fs';
import { deflateSync } from 'node:zlib';

const Z = [[136, 136], [376, 136], [376, 192], [232, 320], [376, 320], [376, 376], [136, 376], [136, 320], [280, 192], [136, 192]];
const TOP = [0x7c, 0x3a, 0xed], BOTTOM = [0x4c, 0x1d, 0x95], SS = 4;

function inPoly(x, y, pts) {
  let inside = false;
  for (let i = 0, j = pts.length - 1; i < pts.length; j = i++) {
    const [xi, yi] = pts[i], [xj, yj] = pts[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}
function inRound(x, y, r) { // rounded 512 square, corner radius r
  const cx = Math.min(Math.max(x, r), 512 - r), cy = Math.min(Math.max(y, r), 512 - r);
  return (x - cx) ** 2 + (y - cy) ** 2 <= r * r;
}
const crc = (b) => { let c = ~0; for (const x of b) { c ^= x; for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1)); } return ~c >>> 0; };
function chunk(type, data) {
  const b = Buffer.alloc(12 + data.length);
  b.writeUInt32BE(data.length, 0); b.write(type, 4, 'latin1'); data.copy(b, 8);
  b.writeUInt32BE(crc(b.subarray(4, 8 + data.length)), 8 + data.length);
  return b;
}
function icon(file, size, radius, zScale) {
  const raw = Buffer.alloc(size * (size * 4 + 1));
  const s = 512 / size, pts = Z.map(([x, y]) => [256 + (x - 256) * zScale, 256 + (y - 256) * zScale]);
  for (let py = 0; py < size; py++) {
    raw[py * (size * 4 + 1)] = 0;
    for (let px = 0; px < size; px++) {
      let bg = 0, fg = 0;
      for (let i = 0; i < SS; i++) for (let j = 0; j < SS; j++) {
        const x = (px + (i + 0.5) / SS) * s, y = (py + (j + 0.5) / SS) * s;
        if (radius && !inRound(x, y, radius)) continue;
        bg++; if (inPoly(x, y, pts)) fg++;
      }
      const t = (py + 0.5) / size, o = py * (size * 4 + 1) + 1 + px * 4;
      for (let c = 0; c < 3; c++) {
        const b = TOP[c] + (BOTTOM[c] - TOP[c]) * t;
        raw[o + c] = bg ? Math.round((b * (bg - fg) + 255 * fg) / bg) : 0;
      }
      raw[o + 3] = Math.round((255 * bg) / (SS * SS));
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0); ihdr.writeUInt32BE(size, 4); ihdr.set([8, 6, 0, 0, 0], 8);
  const png = Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
  writeFileSync(new URL('../public/' + file, import.meta.url), png);
}
icon('icon-192.png', 192, 112, 1);
icon('icon-512.png', 512, 112, 1);
icon('icon-maskable-512.png', 512, 0, 0.8); // full bleed, Z inside the 80% safe zone
icon('apple-touch-icon.png', 180, 0, 1); // iOS rounds the corners itself
