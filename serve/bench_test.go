package serve_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"natter/engine/gguf/synth"
)

// benchModel is a ~25M-parameter llama (F32 norms, Q8_0 weights) with room
// for a 2,000-token conversation.
func benchModel(b *testing.B) string {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.gguf")
	spec := synth.Spec{NLayer: 8, NEmbd: 512, NFF: 1536, NHead: 8, NHeadKV: 4, NCtxTrain: 4096,
		Type: synth.Q8_0, Seed: 9, Name: "synth-serve-bench", ChatTemplate: synth.ChatML}
	if err := synth.Write(path, spec); err != nil {
		b.Fatal(err)
	}
	return path
}

// conversation is about n tokens of alternating turns.
func conversation(turns int) []string {
	var out []string
	for i := range turns {
		out = append(out, fmt.Sprintf("turn %d: once upon a time there was a little girl who lived in a small house near the park with her dog", i))
	}
	return out
}

// ttft sends a streamed chat request and returns the time to its first
// content chunk, reading the rest.
func ttft(b *testing.B, url, body string) time.Duration {
	start := time.Now()
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var first time.Duration
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if first == 0 && strings.Contains(sc.Text(), `"content":"`) && !strings.Contains(sc.Text(), `"content":""`) {
			first = time.Since(start)
		}
	}
	if resp.StatusCode != 200 {
		b.Fatalf("status %d", resp.StatusCode)
	}
	if first == 0 {
		first = time.Since(start)
	}
	return first
}

// BenchmarkFollowUpTTFT: time to first token of the next turn of a
// ~2,000-token conversation, with the engine's prefix reuse and cold (the
// cache emptied first, as a server without reuse would be).
func BenchmarkFollowUpTTFT(b *testing.B) {
	testThreads = 2
	path := benchModel(&testing.B{})
	for _, reuse := range []bool{true, false} {
		name := "reuse"
		if !reuse {
			name = "cold"
		}
		b.Run(name, func(b *testing.B) {
			s := start(&testing.T{}, path, 4096, nil)
			turns := conversation(60)
			var msgs []string
			for i, t := range turns {
				role := "user"
				if i%2 == 1 {
					role = "assistant"
				}
				msgs = append(msgs, fmt.Sprintf(`{"role":%q,"content":%q}`, role, t))
			}
			body := func(last string) string {
				return `{"stream":true,"max_tokens":4,"temperature":0,"messages":[` + strings.Join(msgs, ",") + `,{"role":"user","content":"` + last + `"}]}`
			}
			ttft(b, s.url, body("warm up"))
			var total time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if !reuse {
					b.StopTimer()
					s.eng.Reset()
					b.StartTimer()
				}
				total += ttft(b, s.url, body(fmt.Sprintf("question %d", i)))
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/ttft")
			lines := strings.Split(strings.TrimSpace(s.log.String()), "\n")
			b.Log(lines[len(lines)-1])
		})
	}
}

// BenchmarkConcurrentClients: requests/s with 1, 4 and 16 clients asking
// short questions at once (they queue for the one engine).
func BenchmarkConcurrentClients(b *testing.B) {
	testThreads = 2
	path := benchModel(&testing.B{})
	for _, n := range []int{1, 4, 16} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			s := start(&testing.T{}, path, 2048, nil)
			c := s.client()
			b.ResetTimer()
			start := time.Now()
			var wg sync.WaitGroup
			per := (b.N + n - 1) / n
			for w := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range per {
						_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
							Model:     "synth-chat",
							Messages:  []openai.ChatCompletionMessageParamUnion{user(fmt.Sprintf("client %d question %d: tell me about the park", w, i))},
							MaxTokens: openai.Int(16),
						})
						if err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(per*n)/time.Since(start).Seconds(), "req/s")
		})
	}
}
