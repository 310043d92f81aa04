// Parses each file named on stdin (one path per line) with mailparser and writes one JSON object per line:
// { file, subject, from, to, cc, date, attachments: [{ filename, size }], text, error }.
'use strict';
const fs = require('fs');
const readline = require('readline');
const { simpleParser } = require('mailparser');

const addresses = (a) => {
  if (!a) return [];
  const list = Array.isArray(a) ? a : [a];
  const out = [];
  for (const item of list) {
    for (const v of item.value || []) {
      if (v.group) for (const g of v.group) out.push(g.address || '');
      else out.push(v.address || '');
    }
  }
  return out;
};

// With --bench: reads every path first, then times simpleParser over the in-memory messages (no Node start-up, no I/O)
// and prints { messages, bytes, runs, bestMs, medianMs, mbPerSecond }.
async function bench(paths) {
  const buffers = paths.map((p) => fs.readFileSync(p));
  const bytes = buffers.reduce((n, b) => n + b.length, 0);
  const times = [];
  for (let run = 0; run < 5; run++) {
    const t0 = process.hrtime.bigint();
    for (const b of buffers) {
      try { await simpleParser(b, { skipTextToHtml: true, skipImageLinks: true }); } catch (e) { /* counted as parsed */ }
    }
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  process.stdout.write(JSON.stringify({ messages: buffers.length, bytes, runs: times.length, bestMs: times[0], medianMs: median, mbPerSecond: bytes / 1e6 / (median / 1000) }) + '\n');
}

async function main() {
  if (process.argv.includes('--bench')) {
    const rl = readline.createInterface({ input: process.stdin, terminal: false });
    const paths = [];
    for await (const line of rl) if (line.trim()) paths.push(line.trim());
    await bench(paths);
    return;
  }

  const rl = readline.createInterface({ input: process.stdin, terminal: false });
  for await (const line of rl) {
    const file = line.trim();
    if (!file) continue;
    try {
      const m = await simpleParser(fs.readFileSync(file), { skipHtmlToText: false, skipTextToHtml: true, skipImageLinks: true });
      process.stdout.write(JSON.stringify({
        file,
        subject: m.subject ?? null,
        from: addresses(m.from),
        to: addresses(m.to),
        cc: addresses(m.cc),
        date: m.date && !isNaN(m.date) ? m.date.toISOString() : null,
        attachments: (m.attachments || []).map((a) => ({ filename: a.filename ?? null, size: a.size })),
        text: m.text ?? null,
      }) + '\n');
    } catch (e) {
      process.stdout.write(JSON.stringify({ file, error: String(e) }) + '\n');
    }
  }
}
main();
