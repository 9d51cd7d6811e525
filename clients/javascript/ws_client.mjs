// The canonical client job over the raw `ws` library: stream a WAV in real time, pause with
// KeepAlive, Finalize, CloseStream, then wait for Metadata and the server's close. Prints one
// JSON line per event; exits 0 after Metadata and a 1000 close, 1 otherwise.
//
//   conformance client -- node clients/javascript/ws_client.mjs
import WebSocket from "ws";
import { parseJob, report, sleep, streamAudio } from "./job.mjs";

const WAIT_FOR_METADATA_MS = 10000;

async function main() {
  const job = parseJob();
  const { rate, channels } = job.audio;
  const query = new URLSearchParams({ model: "nova-3", encoding: "linear16", sample_rate: String(rate), channels: String(channels), ...job.params });
  const ws = new WebSocket(`${job.url}?${query}`, { headers: { Authorization: `Token ${job.apiKey}` }, handshakeTimeout: 10000 });
  let metadata = false;
  const closed = new Promise((resolve) => {
    ws.on("close", (code, reason) => { report({ event: "close", code, reason: reason.toString() }); resolve(code); });
  });
  ws.on("message", (data, isBinary) => {
    const type = isBinary ? "binary" : JSON.parse(data.toString()).type;
    report({ event: "message", type });
    if (type === "Metadata") metadata = true;
  });
  ws.on("error", (error) => report({ event: "error", error: String(error?.message ?? error) }));
  await new Promise((resolve, reject) => { ws.once("open", resolve); ws.once("error", reject); });

  const send = (payload) => { if (ws.readyState === WebSocket.OPEN) ws.send(payload); };
  await streamAudio(job, (chunk) => send(chunk), () => send(JSON.stringify({ type: "KeepAlive" })));
  send(JSON.stringify({ type: "Finalize" }));
  send(JSON.stringify({ type: "CloseStream" }));
  // CloseStream asks the server to flush and close; closing first would lose the final results.
  const code = await Promise.race([closed, sleep(WAIT_FOR_METADATA_MS).then(() => null)]);
  if (code !== 1000) console.error(`error: the stream ended with close code ${code}`);
  report({ event: "finished", metadata_received: metadata });
  process.exit(metadata && code === 1000 ? 0 : 1);
}

main().catch((error) => {
  report({ event: "error", error: String(error?.message ?? error) });
  process.exit(2);
});
