#!/usr/bin/env bash
# Regenerates the bundled speech clip. Needs Debian's espeak-ng (apt-get install espeak-ng).
# The clip is committed, so nothing is synthesised or downloaded at run time.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
espeak-ng -v en-us -s 150 -g 6 -w "$here/speech_en.wav" \
  "Conformance testing checks every message on the wire. \
The server must keep the stream open while the client sends keep alive messages. \
Finalize flushes the buffered audio and returns final results. \
Close stream ends the session with a metadata message. \
Word timings follow the audio, not the clock on the wall."
