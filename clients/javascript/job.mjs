// The canonical client job, as every driver in clients/ reads it: where to connect and what to
// send, from the environment `conformance client` sets (flags override it).
//
//   DEEPGRAM_URL            ws://127.0.0.1:PORT/v1/listen
//   DEEPGRAM_API_KEY        the key the mock expects
//   CONFORMANCE_AUDIO       a WAV file (PCM 16-bit)
//   CONFORMANCE_SECONDS     seconds of it to stream in real time (default 3)
//   CONFORMANCE_PAUSE       a KeepAlive-only pause after half the audio, in seconds (default 0)
//   CONFORMANCE_TIME_SCALE  multiplies the client's own timers (the KeepAlive interval) (default 1)
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

export const CHUNK_SECONDS = 0.05;
// seeds 003: "send KeepAlive messages every 3-5 seconds"
const KEEPALIVE_EVERY = 4;

export const report = (fields) => console.log(JSON.stringify(fields));
export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

export function parseJob() {
  const env = process.env;
  const { values } = parseArgs({
    options: {
      url: { type: "string", default: env.DEEPGRAM_URL ?? "ws://127.0.0.1:8080/v1/listen" },
      wav: { type: "string", default: env.CONFORMANCE_AUDIO },
      seconds: { type: "string", default: env.CONFORMANCE_SECONDS ?? "3" },
      pause: { type: "string", default: env.CONFORMANCE_PAUSE ?? "0" },
      "time-scale": { type: "string", default: env.CONFORMANCE_TIME_SCALE ?? "1" },
      param: { type: "string", multiple: true, default: [] },
    },
  });
  if (!values.wav) throw new Error("no audio: pass --wav or set CONFORMANCE_AUDIO");
  return {
    url: values.url,
    apiKey: env.DEEPGRAM_API_KEY ?? "",
    seconds: Number(values.seconds),
    pauseMs: Number(values.pause) * 1000,
    keepAliveMs: KEEPALIVE_EVERY * Number(values["time-scale"]) * 1000,
    params: Object.fromEntries(values.param.map((item) => item.split(/=(.*)/s).slice(0, 2))),
    audio: readWav(values.wav, Number(values.seconds)),
  };
}

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
      return { ...format, data: file.subarray(offset + 8, offset + 8 + bytes) };
    }
    offset += 8 + size + (size % 2);
  }
  throw new Error(`${path}: no data chunk`);
}

// Real time on an absolute schedule; after half the audio, a pause with a KeepAlive every few seconds.
export async function streamAudio(job, sendAudio, sendKeepAlive) {
  const { rate, width, channels, data } = job.audio;
  const chunk = Math.floor(CHUNK_SECONDS * rate) * width * channels;
  const count = Math.ceil(data.length / chunk);
  let start = Date.now();
  for (let index = 0; index < count; index += 1) {
    if (job.pauseMs && index === Math.floor(count / 2)) {
      const end = Date.now() + job.pauseMs;
      while (Date.now() + job.keepAliveMs < end) {
        await sleep(job.keepAliveMs);
        sendKeepAlive();
      }
      await sleep(end - Date.now());
      start += job.pauseMs;
    }
    await sleep(start + index * CHUNK_SECONDS * 1000 - Date.now());
    sendAudio(data.subarray(index * chunk, (index + 1) * chunk));
  }
}
