// Stream a WAV file through Deepgram's official JavaScript SDK (@deepgram/sdk) and print what the
// SDK delivered, one JSON line per event.
//
// The canonical client job: real-time audio, an optional KeepAlive-only pause, Finalize,
// CloseStream, then wait for Metadata and the server's close. Used as an independent judge of the
// mock and as a client under test.
//
//   node stream_wav.mjs --url ws://127.0.0.1:8080 --wav speech.wav [--seconds 3] [--pause 0] [--param interim_results=true]
//
// The URL also comes from DEEPGRAM_URL, the key from DEEPGRAM_API_KEY.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { DeepgramClient } from "@deepgram/sdk";

const CHUNK_SECONDS = 0.05;
const KEEPALIVE_EVERY = 4;
const report = (fields) => console.log(JSON.stringify(fields));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

function readWav(path, seconds) {
  const file = readFileSync(path);
  if (file.toString("ascii", 0, 4) !== "RIFF" || file.toString("ascii", 8, 12) !== "WAVE") throw new Error(`${path}: not a WAV file`);
  let offset = 12;
  let format;
  while (offset + 8 <= file.length) {
    const kind = file.toString("ascii", offset, offset + 4);
    const size = file.readUInt32LE(offset + 4);
    if (kind === "fmt ") format = { channels: file.readUInt16LE(offset + 10), rate: file.readUInt32LE(offset + 12), width: file.readUInt16LE(offset + 22) / 8 };
    if (kind === "data" && format) {
      const bytes = Math.min(size, Math.floor(seconds * format.rate) * format.width * format.channels);
      return { ...format, audio: file.subarray(offset + 8, offset + 8 + bytes) };
    }
    offset += 8 + size + (size % 2);
  }
  throw new Error(`${path}: no data chunk`);
}

async function main() {
  const { values } = parseArgs({
    options: {
      url: { type: "string", default: process.env.DEEPGRAM_URL ?? "ws://127.0.0.1:8080" },
      wav: { type: "string" },
      seconds: { type: "string", default: "3" },
      pause: { type: "string", default: "0" },
      param: { type: "string", multiple: true, default: [] },
    },
  });
  const { rate, channels, width, audio } = readWav(values.wav, Number(values.seconds));
  const extra = Object.fromEntries(values.param.map((item) => item.split(/=(.*)/s).slice(0, 2)));
  const client = new DeepgramClient({ apiKey: process.env.DEEPGRAM_API_KEY ?? "unused-by-the-mock", baseUrl: values.url.replace(/\/v1\/listen$/, "") });
  const connection = await client.listen.v1.connect({
    model: "nova-3", encoding: "linear16", sample_rate: rate, channels, ...extra,
    // The SDK reconnects on any close other than 1000; a conformance run must see closes as they are.
    shouldReconnect: () => false,
  });
  let metadata = false;
  const closed = new Promise((resolve) => {
    connection.on("close", (event) => { report({ event: "close", code: event.code }); resolve(); });
  });
  connection.on("message", (message) => {
    report({ event: "message", js_type: typeof message, type: message?.type ?? null });
    if (message?.type === "Metadata") metadata = true;
  });
  connection.on("error", (error) => report({ event: "error", error: String(error?.message ?? error) }));
  connection.connect();
  await connection.waitForOpen();

  const chunk = Math.floor(CHUNK_SECONDS * rate) * width * channels;
  const pause = Number(values.pause) * 1000;
  let start = Date.now();
  for (let index = 0, offset = 0; offset < audio.length; index += 1, offset += chunk) {
    if (pause && offset >= audio.length / 2 && offset - chunk < audio.length / 2) {
      const end = Date.now() + pause;
      while (Date.now() + KEEPALIVE_EVERY * 1000 < end) {
        await sleep(KEEPALIVE_EVERY * 1000);
        connection.sendKeepAlive({ type: "KeepAlive" });
      }
      await sleep(end - Date.now());
      start += pause;
    }
    await sleep(start + index * CHUNK_SECONDS * 1000 - Date.now());
    connection.sendMedia(audio.subarray(offset, offset + chunk));
  }
  connection.sendFinalize({ type: "Finalize" });
  connection.sendCloseStream({ type: "CloseStream" });
  await Promise.race([closed, sleep(10000)]);
  report({ event: "finished", metadata_received: metadata });
  process.exit(metadata ? 0 : 1);
}

main().catch((error) => {
  report({ event: "error", error: String(error?.message ?? error) });
  process.exit(2);
});
