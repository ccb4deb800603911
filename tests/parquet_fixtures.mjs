// parquet_fixtures.mjs OUT_DIR [rows] - writes Parquet fixtures with DuckDB (an independent writer,
// @duckdb/node-api from npm) and DuckDB's own reading of them as the reference (OUT_DIR/expected.json):
// every codec (uncompressed, snappy, gzip, zstd) x data page v1/v2, dictionary and plain columns,
// nulls, >= 3 row groups, the Hugging Face image struct {bytes, path}, a list of image structs,
// chat-style {role, content} message lists. Also `big OUT.parquet ROWS [ROWS_PER_GROUP]` for the
// memory benchmark (~5 KB distinct PNG per row, snappy).
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const crcTable = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
// A distinct small PNG: a 24x24 two-colour picture, plus `pad` bytes in a private ancillary chunk.
function png(seed, pad) {
  const w = 24, h = 24, raw = Buffer.alloc(h * (1 + 3 * w));
  for (let y = 0; y < h; y++) {
    raw[y * (1 + 3 * w)] = 0;
    for (let x = 0; x < w; x++) {
      const o = y * (1 + 3 * w) + 1 + 3 * x, on = (x + y + seed) % 7 < 3;
      raw[o] = on ? (seed * 37) & 255 : 20;
      raw[o + 1] = on ? (seed * 91) & 255 : 200;
      raw[o + 2] = on ? (seed * 13) & 255 : 90;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; ihdr[9] = 2;
  const seedb = Buffer.alloc(4);
  seedb.writeUInt32BE(seed);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('ruSt', Buffer.concat([seedb, pad ? randomBytes(pad) : Buffer.alloc(0)])),
    chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}
// DuckDB comes from the npm folder the test setup installs into (MM_NPM_DIR, default tests/npm)
const npmDir = process.env.MM_NPM_DIR || new URL('./npm', import.meta.url).pathname;
const { DuckDBInstance } = createRequire(`${resolve(npmDir)}/package.json`)('@duckdb/node-api');
const hex = (b) => createHash('sha256').update(b).digest('hex');
const blob = (b) => `'\\x${[...b].map((x) => x.toString(16).padStart(2, '0')).join('\\x')}'::BLOB`;

const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();

// DuckDB's own reading of one fixture: the reference the test compares mmaudit's pairs with
async function reference(path, f) {
  const meta = (await con.runAndReadAll(`SELECT DISTINCT row_group_id, encodings, compression
      FROM parquet_metadata('${path}')`)).getRowObjectsJson();
  const rg = new Set(meta.map((m) => m.row_group_id)).size;
  const enc = [...new Set(meta.flatMap((m) => String(m.encodings).split(',').map((s) => s.trim())))];
  let q;
  if (f.table === 'pw')
    q = `SELECT id, question AS prompt, chosen, rejected, image.bytes AS img, image.path AS ipath FROM '${path}'`;
  else if (f.table === 'trl')
    q = `SELECT id, prompt[1].content AS prompt, chosen[1].content AS chosen, rejected[1].content AS rejected,
         images[1].bytes AS img, NULL AS ipath FROM '${path}'`;
  else
    q = `SELECT NULL AS id, chosen[1].content AS prompt, chosen[2].content AS chosen,
         rejected[2].content AS rejected, image.bytes AS img, image.path AS ipath FROM '${path}'`;
  const res = await con.runAndReadAll(q);
  const rowsOut = res.getRows().map((r, i) => ({
    row: i + 1, id: r[0], prompt: r[1], chosen: r[2], rejected: r[3],
    image_sha256: r[4] ? hex(Buffer.from(r[4].bytes)) : null, image_path: r[5] ?? null }));
  return { table: f.table, codec: f.codec, version: f.ver, page_v2: !!f.v2, row_groups: rg,
    encodings: enc, rows: rowsOut };
}

if (process.argv[2] === 'reread') { // reread DIR NAME:TABLE:CODEC... : add files DuckDB reads back
  const dir = process.argv[3], expected = JSON.parse(readFileSync(`${dir}/expected.json`));
  for (const spec of process.argv.slice(4)) {
    const [name, table, codec] = spec.split(':');
    expected.files[name] = await reference(`${dir}/${name}`, { table, codec, ver: 'V1', v2: true });
  }
  writeFileSync(`${dir}/expected.json`, JSON.stringify(expected));
  process.exit(0);
}


if (process.argv[2] === 'big') { // big OUT.parquet ROWS: ~5 KB PNG per row, for the RSS benchmark
  const out = process.argv[3], rows = Number(process.argv[4] || 200000);
  const rg = Number(process.argv[5] || 10240); // rows per row group (DuckDB's default: 122880)
  await con.run('CREATE TABLE imgs(k INTEGER, b BLOB)');
  for (let k = 0; k < 64; k++) await con.run(`INSERT INTO imgs VALUES (${k}, ${blob(png(k + 1, 5000))})`);
  // each row's image is distinct: one of 64 PNGs with the row number appended after IEND
  await con.run(`COPY (SELECT 'r' || i AS id, 'What colour is shape ' || (i % 97) || '?' AS question,
      'The shape is colour ' || i || ' and it is drawn large.' AS chosen,
      'It is probably ' || (i * 7 % 1000) || ', I think.' AS rejected,
      {'bytes': b || encode(CAST(i AS VARCHAR)), 'path': 'img' || i || '.png'} AS image
      FROM range(${rows}) t(i) JOIN imgs ON imgs.k = i % 64)
      TO '${out}' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE ${rg})`);
  process.exit(0);
}

const outDir = process.argv[2], rows = Number(process.argv[3] || 5000);
mkdirSync(outDir, { recursive: true });
const NIMG = 300;
await con.run('CREATE TABLE imgs(k INTEGER, b BLOB)');
const shas = [];
for (let k = 0; k < NIMG; k++) {
  const b = png(k + 1, (k * 53) % 400);
  shas.push(hex(b));
  await con.run(`INSERT INTO imgs VALUES (${k}, ${blob(b)})`);
}
// pairwise rows: id, question (37 distinct: dictionary), chosen/rejected (distinct: plain or
// delta), an image struct (null every 17th row; path only every 29th), numbers with nulls, a
// missing answer every 101st row, identical answers every 211th
await con.run(`CREATE TABLE pw AS SELECT 'p' || i AS id,
    'Question ' || (i % 37) || ': what is in the picture?' AS question,
    CASE WHEN i % 101 = 5 THEN NULL ELSE 'Chosen answer ' || i || ' names ' || (i % 11) || ' — ünïcode ✓' END AS chosen,
    CASE WHEN i % 211 = 7 THEN 'Chosen answer ' || i || ' names ' || (i % 11) || ' — ünïcode ✓'
         ELSE 'Rejected ' || (i * 31 % 977) || repeat(' long', i % 5) END AS rejected,
    CASE WHEN i % 17 = 3 THEN NULL
         WHEN i % 29 = 4 THEN {'bytes': NULL, 'path': 'absent/' || i || '.png'}
         ELSE {'bytes': b, 'path': 'img' || (i % ${NIMG}) || '.png'} END AS image,
    CASE WHEN i % 13 = 0 THEN NULL ELSE i * 0.5 END AS score,
    CAST(i % 3 AS INTEGER) AS grade, i % 2 = 0 AS flag
  FROM range(${rows}) t(i) JOIN imgs ON imgs.k = i % ${NIMG} ORDER BY i`);
// TRL conversational: images = list of image structs, prompt/chosen/rejected = message lists
await con.run(`CREATE TABLE trl AS SELECT 't' || i AS id,
    CASE WHEN i % 23 = 1 THEN [] ELSE [{'bytes': b, 'path': NULL::VARCHAR}] END AS images,
    [{'role': 'user', 'content': 'Describe image ' || (i % 41)}] AS prompt,
    [{'role': 'assistant', 'content': 'A good description ' || i}] AS chosen,
    [{'role': 'assistant', 'content': CASE WHEN i % 19 = 2 THEN NULL ELSE 'Bad ' || (i % 7) END}] AS rejected
  FROM range(${rows}) t(i) JOIN imgs ON imgs.k = (i * 7) % ${NIMG} ORDER BY i`);
// messages with the user turn inside chosen/rejected and no prompt column
await con.run(`CREATE TABLE msg AS SELECT
    [{'role': 'user', 'content': 'Tell me about ' || (i % 9)}, {'role': 'assistant', 'content': 'Fact ' || i}] AS chosen,
    [{'role': 'user', 'content': 'Tell me about ' || (i % 9)}, {'role': 'assistant', 'content': 'Guess ' || (i % 5)}] AS rejected,
    {'bytes': b, 'path': 'm' || i || '.png'} AS image
  FROM range(${rows}) t(i) JOIN imgs ON imgs.k = (i * 3) % ${NIMG} ORDER BY i`);

const files = [];
for (const codec of ['uncompressed', 'snappy', 'gzip', 'zstd'])
  for (const ver of ['V1', 'V2']) files.push({ table: 'pw', name: `pw_${codec}_${ver}.parquet`, codec, ver });
files.push({ table: 'trl', name: 'trl_zstd_V2.parquet', codec: 'zstd', ver: 'V2' });
files.push({ table: 'trl', name: 'trl_snappy_V1.parquet', codec: 'snappy', ver: 'V1' });
files.push({ table: 'msg', name: 'msg_gzip_V1.parquet', codec: 'gzip', ver: 'V1' });
// dictionary off for every column: the same rows all PLAIN / DELTA
files.push({ table: 'pw', name: 'pw_nodict_V2.parquet', codec: 'snappy', ver: 'V2', nodict: true });

const expected = { images: shas, files: {} };
for (const f of files) {
  const path = `${outDir}/${f.name}`;
  await con.run(`COPY ${f.table} TO '${path}' (FORMAT parquet, COMPRESSION ${f.codec},
      PARQUET_VERSION ${f.ver}, ROW_GROUP_SIZE 2048${f.nodict ? ', DICTIONARY_SIZE_LIMIT 1' : ''})`);
  expected.files[f.name] = await reference(path, f);
}
writeFileSync(`${outDir}/expected.json`, JSON.stringify(expected));
// hostile by construction: a struct nested 20 deep (over the reader's schema depth limit)
let deep = "'x'";
for (let d = 0; d < 20; d++) deep = `{'a': ${deep}}`;
await con.run(`COPY (SELECT 'q' AS prompt, ${deep} AS chosen, 'r' AS rejected) TO '${outDir}/deep_struct.parquet'
    (FORMAT parquet)`);
console.log(`wrote ${files.length} fixtures to ${outDir}`);
