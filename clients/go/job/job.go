// Package job reads the canonical client job the way every driver in clients/ does: where to
// connect and what to send, from the environment `conformance client` sets (flags override it).
//
//	DEEPGRAM_URL            ws://127.0.0.1:PORT/v1/listen
//	DEEPGRAM_API_KEY        the key the mock expects
//	CONFORMANCE_AUDIO       a WAV file (PCM 16-bit)
//	CONFORMANCE_SECONDS     seconds of it to stream in real time (default 3)
//	CONFORMANCE_PAUSE       a KeepAlive-only pause after half the audio, in seconds (default 0)
//	CONFORMANCE_TIME_SCALE  multiplies the client's own timers (the KeepAlive interval) (default 1)
package job

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"
)

// ChunkSeconds is the audio in one binary frame.
const ChunkSeconds = 0.05

// keepAliveEvery follows seeds 003: "send KeepAlive messages every 3-5 seconds".
const keepAliveEvery = 4 * time.Second

// Job is what the program is asked to do.
type Job struct {
	URL, APIKey    string
	Seconds, Pause float64
	TimeScale      float64
	Rate, Channels int
	Width          int
	Audio          []byte
}

func env(name, fallback string) string {
	if value, ok := os.LookupEnv(name); ok {
		return value
	}
	return fallback
}

func number(name, fallback string) float64 {
	value, err := strconv.ParseFloat(env(name, fallback), 64)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: not a number\n", name)
		os.Exit(2)
	}
	return value
}

// Parse reads the job from the environment and flags, and loads the audio.
func Parse() (*Job, error) {
	j := &Job{}
	flag.StringVar(&j.URL, "url", env("DEEPGRAM_URL", "ws://127.0.0.1:8080/v1/listen"), "the /v1/listen URL")
	wav := flag.String("wav", env("CONFORMANCE_AUDIO", ""), "WAV file to stream")
	flag.Float64Var(&j.Seconds, "seconds", number("CONFORMANCE_SECONDS", "3"), "seconds of audio")
	flag.Float64Var(&j.Pause, "pause", number("CONFORMANCE_PAUSE", "0"), "KeepAlive-only pause after half the audio, seconds")
	flag.Float64Var(&j.TimeScale, "time-scale", number("CONFORMANCE_TIME_SCALE", "1"), "multiplies the KeepAlive interval")
	flag.Parse()
	j.APIKey = os.Getenv("DEEPGRAM_API_KEY")
	if *wav == "" {
		return nil, errors.New("no audio: pass -wav or set CONFORMANCE_AUDIO")
	}
	return j, j.readWav(*wav)
}

func (j *Job) readWav(path string) error {
	file, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if len(file) < 12 || string(file[0:4]) != "RIFF" || string(file[8:12]) != "WAVE" {
		return fmt.Errorf("%s: not a WAV file", path)
	}
	for offset := 12; offset+8 <= len(file); {
		kind, size := string(file[offset:offset+4]), int(binary.LittleEndian.Uint32(file[offset+4:offset+8]))
		body := file[offset+8 : min(len(file), offset+8+size)]
		switch {
		case kind == "fmt " && len(body) >= 16:
			j.Channels = int(binary.LittleEndian.Uint16(body[2:4]))
			j.Rate = int(binary.LittleEndian.Uint32(body[4:8]))
			j.Width = int(binary.LittleEndian.Uint16(body[14:16])) / 8
		case kind == "data" && j.Rate > 0:
			j.Audio = body[:min(len(body), int(j.Seconds*float64(j.Rate))*j.Width*j.Channels)]
			return nil
		}
		offset += 8 + size + size%2
	}
	return fmt.Errorf("%s: no data chunk", path)
}

// Query is the stream format the client declares.
func (j *Job) Query() string {
	return fmt.Sprintf("model=nova-3&encoding=linear16&sample_rate=%d&channels=%d", j.Rate, j.Channels)
}

// Stream sends the audio in real time on an absolute schedule; after half of it, a pause with a
// KeepAlive every few seconds. It stops at the first send error (the server closed).
func (j *Job) Stream(sendAudio func([]byte) error, sendKeepAlive func() error) error {
	step := int(ChunkSeconds*float64(j.Rate)) * j.Width * j.Channels
	count := (len(j.Audio) + step - 1) / step
	every := time.Duration(float64(keepAliveEvery) * j.TimeScale)
	pause := time.Duration(j.Pause * float64(time.Second))
	start := time.Now()
	for index := 0; index < count; index++ {
		if pause > 0 && index == count/2 {
			end := time.Now().Add(pause)
			for time.Now().Add(every).Before(end) {
				time.Sleep(every)
				if err := sendKeepAlive(); err != nil {
					return err
				}
			}
			time.Sleep(time.Until(end))
			start = start.Add(pause)
		}
		time.Sleep(time.Until(start.Add(time.Duration(float64(index) * ChunkSeconds * float64(time.Second)))))
		if err := sendAudio(j.Audio[index*step : min(len(j.Audio), (index+1)*step)]); err != nil {
			return err
		}
	}
	return nil
}

// Report prints one JSON line per event.
func Report(fields map[string]any) {
	line, _ := json.Marshal(fields)
	fmt.Println(string(line))
}
