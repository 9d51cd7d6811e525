// The canonical client job through Deepgram's official JavaScript SDK (@deepgram/sdk): stream a
// WAV in real time, pause with KeepAlive, Finalize, CloseStream, then wait for Metadata and the
// server's close. Prints one JSON line per SDK event; exits 0 after Metadata, 1 otherwise. Also
// an independent judge of the mock: every message must arrive as a parsed object of its type.
//
//   conformance client -- node clients/javascript/sdk_client.mjs
import { DeepgramClient } from "@deepgram/sdk";
import { parseJob, report, sleep, streamAudio } from "./job.mjs";

const WAIT_FOR_METADATA_MS = 10000;

async function main() {
  const job = parseJob();
  const { rate, channels } = job.audio;
  const client = new DeepgramClient({ apiKey: job.apiKey, baseUrl: job.url.replace(/\/v1\/listen$/, "") });
  const connection = await client.listen.v1.connect({
    model: "nova-3", encoding: "linear16", sample_rate: rate, channels, ...job.params,
    // The SDK reconnects on any close other than 1000; a conformance run must see closes as they are.
    shouldReconnect: () => false,
  });
  let metadata = false;
  const closed = new Promise((resolve) => {
    connection.on("close", (event) => { report({ event: "close", code: event.code }); resolve(event.code); });
  });
  connection.on("message", (message) => {
    report({ event: "message", js_type: typeof message, type: message?.type ?? null });
    if (message?.type === "Metadata") metadata = true;
  });
  connection.on("error", (error) => report({ event: "error", error: String(error?.message ?? error) }));
  connection.connect();
  await connection.waitForOpen();

  let open = true;
  closed.then(() => { open = false; });
  await streamAudio(job, (chunk) => open && connection.sendMedia(chunk), () => open && connection.sendKeepAlive({ type: "KeepAlive" }));
  if (open) {
    connection.sendFinalize({ type: "Finalize" });
    connection.sendCloseStream({ type: "CloseStream" });
  }
  const code = await Promise.race([closed, sleep(WAIT_FOR_METADATA_MS).then(() => null)]);
  if (code !== 1000) console.error(`error: the stream ended with close code ${code}`);
  report({ event: "finished", metadata_received: metadata });
  process.exit(metadata ? 0 : 1);
}

main().catch((error) => {
  report({ event: "error", error: String(error?.message ?? error) });
  process.exit(2);
});
