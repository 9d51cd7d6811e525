// The canonical client job over gorilla/websocket: stream a WAV in real time, pause with
// KeepAlive, Finalize, CloseStream, then wait for Metadata and the server's close. Prints one
// JSON line per event; exits 0 after Metadata and a 1000 close, 1 otherwise.
//
//	conformance client -- clients/go/bin/gorilla
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/gorilla/websocket"

	"stt-conformance/clients/job"
)

const waitForMetadata = 10 * time.Second

func main() {
	j, err := job.Parse()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(2)
	}
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	header := http.Header{"Authorization": {"Token " + j.APIKey}}
	conn, _, err := dialer.Dial(j.URL+"?"+j.Query(), header)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error: connect:", err)
		os.Exit(1)
	}
	defer conn.Close()

	metadata, closeCode := false, 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			kind, data, err := conn.ReadMessage()
			if err != nil {
				var closeErr *websocket.CloseError
				if errors.As(err, &closeErr) {
					closeCode = closeErr.Code
					job.Report(map[string]any{"event": "close", "code": closeErr.Code, "reason": closeErr.Text})
				}
				return
			}
			var message struct{ Type string }
			if kind == websocket.TextMessage && json.Unmarshal(data, &message) == nil {
				job.Report(map[string]any{"event": "message", "type": message.Type})
				metadata = metadata || message.Type == "Metadata"
			}
		}
	}()

	text := func(kind string) error {
		return conn.WriteMessage(websocket.TextMessage, []byte(`{"type":"`+kind+`"}`))
	}
	err = j.Stream(func(chunk []byte) error { return conn.WriteMessage(websocket.BinaryMessage, chunk) }, func() error { return text("KeepAlive") })
	if err == nil {
		_ = text("Finalize")
		_ = text("CloseStream")
	}
	// CloseStream asks the server to flush and close; closing first would lose the final results.
	select {
	case <-done:
	case <-time.After(waitForMetadata):
	}
	if closeCode != websocket.CloseNormalClosure {
		fmt.Fprintf(os.Stderr, "error: the stream ended with close code %d\n", closeCode)
	}
	job.Report(map[string]any{"event": "finished", "metadata_received": metadata})
	if !metadata || closeCode != websocket.CloseNormalClosure {
		os.Exit(1)
	}
}
