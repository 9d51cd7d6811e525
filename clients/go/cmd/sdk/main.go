// The canonical client job through Deepgram's official Go SDK (deepgram-go-sdk v3): stream a WAV
// in real time, pause with KeepAlive, Finalize, CloseStream, then wait for Metadata and the
// server's close. Prints one JSON line per SDK callback; exits 0 after Metadata, 1 otherwise.
// The SDK reads DEEPGRAM_HOST and DEEPGRAM_API_KEY itself.
//
//	conformance client -- clients/go/bin/sdk
//
// With -sdk-stop the stream ends with the SDK's own Stop() instead: it sends CloseStream and closes
// the socket 100 ms later without waiting for Metadata (what C-CS-3 judges).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	api "github.com/deepgram/deepgram-go-sdk/v3/pkg/api/listen/v1/websocket/interfaces"
	interfaces "github.com/deepgram/deepgram-go-sdk/v3/pkg/client/interfaces"
	client "github.com/deepgram/deepgram-go-sdk/v3/pkg/client/listen"

	"stt-conformance/clients/job"
)

const waitForMetadata = 10 * time.Second

// events reports every SDK callback and remembers whether Metadata and the close came. A close
// before CloseStream was sent ends nothing: after a server-side 1011 the SDK reconnects silently and
// streams on, so the stream to wait for is the one CloseStream goes to.
type events struct {
	once     sync.Once
	ended    chan struct{}
	metadata bool
	closing  atomic.Bool
}

func (e *events) end() { e.once.Do(func() { close(e.ended) }) }

func (e *events) Open(*api.OpenResponse) error {
	job.Report(map[string]any{"event": "Open"})
	return nil
}
func (e *events) Message(m *api.MessageResponse) error {
	job.Report(map[string]any{"event": "Message", "type": m.Type, "is_final": m.IsFinal})
	return nil
}
func (e *events) Metadata(m *api.MetadataResponse) error {
	job.Report(map[string]any{"event": "Metadata", "type": m.Type})
	e.metadata = true
	e.end()
	return nil
}
func (e *events) SpeechStarted(m *api.SpeechStartedResponse) error {
	job.Report(map[string]any{"event": "SpeechStarted", "type": m.Type})
	return nil
}
func (e *events) UtteranceEnd(m *api.UtteranceEndResponse) error {
	job.Report(map[string]any{"event": "UtteranceEnd", "type": m.Type})
	return nil
}
func (e *events) Close(*api.CloseResponse) error {
	job.Report(map[string]any{"event": "Close"})
	if e.closing.Load() {
		e.end()
	}
	return nil
}
func (e *events) Error(m *api.ErrorResponse) error {
	job.Report(map[string]any{"event": "Error", "description": m.Description, "message": m.ErrMsg})
	return nil
}
func (e *events) UnhandledEvent(data []byte) error {
	job.Report(map[string]any{"event": "Unhandled", "data": string(data)})
	return nil
}

func main() {
	sdkStop := flag.Bool("sdk-stop", false, "end with the SDK's Stop() (does not wait for Metadata)")
	j, err := job.Parse()
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(2)
	}
	client.Init(client.InitLib{LogLevel: client.LogLevelErrorOnly})
	options := &interfaces.LiveTranscriptionOptions{Model: "nova-3", Encoding: "linear16", SampleRate: j.Rate, Channels: j.Channels}
	handler := &events{ended: make(chan struct{})}
	dg, err := client.NewWSUsingCallback(context.Background(), j.APIKey, &interfaces.ClientOptions{}, options, handler)
	if err != nil {
		fmt.Fprintln(os.Stderr, "error: client:", err)
		os.Exit(1)
	}
	if !dg.Connect() {
		fmt.Fprintln(os.Stderr, "error: connect failed")
		os.Exit(1)
	}
	err = j.Stream(func(chunk []byte) error { _, err := dg.Write(chunk); return err }, dg.KeepAlive)
	if err == nil {
		_ = dg.Finalize()
		handler.closing.Store(true)
		if *sdkStop {
			dg.Stop()
		} else {
			_ = dg.WriteJSON(map[string]string{"type": "CloseStream"})
		}
	}
	// CloseStream asks the server to flush and close; closing first would lose the final results.
	select {
	case <-handler.ended:
	case <-time.After(waitForMetadata):
	}
	dg.Stop()
	if !handler.metadata {
		fmt.Fprintln(os.Stderr, "error: the stream ended without Metadata")
	}
	job.Report(map[string]any{"event": "finished", "metadata_received": handler.metadata})
	if !handler.metadata {
		os.Exit(1)
	}
}
