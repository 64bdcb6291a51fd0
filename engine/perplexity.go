package engine

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// Perplexity is the result of scoring a text.
type Perplexity struct {
	PPL    float64 // exp of the mean negative log-likelihood
	StdErr float64 // its standard error, as llama-perplexity reports it
	Chunks int     // chunks of ChunkSize tokens scored
	Tokens int     // tokens in the text
	Scored int     // tokens whose likelihood counted
}

// ErrTooShort: the text does not fill two chunks.
var ErrTooShort = errors.New("the text is too short")

// Perplexity scores text the way llama.cpp's llama-perplexity does by
// default: the text is tokenized once (with BOS when the model adds one),
// cut into chunks of chunk tokens, each chunk is evaluated from an empty
// cache with its first token replaced by BOS, and only the second half of
// each chunk is scored, so every scored token has at least chunk/2 tokens
// of context. progress, if set, gets the running estimate after each chunk.
// The cache is empty afterwards.
func (e *Engine) Perplexity(ctx context.Context, text string, chunk int, progress func(done, total int, ppl float64)) (Perplexity, error) {
	var res Perplexity
	if chunk < 16 {
		return res, fmt.Errorf("a chunk of %d tokens is too small (at least 16)", chunk)
	}
	if n := e.lc.nCtx(); chunk > n {
		return res, fmt.Errorf("chunks of %d tokens do not fit the %d-token context", chunk, n)
	}
	toks, err := e.model.tokenize(text, true, false)
	if err != nil {
		return res, err
	}
	res.Tokens = len(toks)
	if len(toks) < 2*chunk {
		return res, fmt.Errorf("%w: it is %d tokens, and chunks of %d need at least %d", ErrTooShort, len(toks), chunk, 2*chunk)
	}
	res.Chunks = len(toks) / chunk
	first := chunk / 2
	var nll, nll2 float64
	var runErr error
	err = e.do(func() {
		stop := e.lc.watch(ctx)
		defer func() {
			stop()
			e.lc.clear()
			e.cached, e.gaps = e.cached[:0], nil
		}()
		nVocab := e.model.nVocab()
		buf := make([]Token, chunk)
		for c := 0; c < res.Chunks; c++ {
			if ctx.Err() != nil {
				runErr = ctx.Err()
				return
			}
			copy(buf, toks[c*chunk:(c+1)*chunk])
			if e.model.addBOS() {
				buf[0] = e.model.bos()
			}
			e.lc.clear()
			err := e.lc.scoreFrom(buf, first, nVocab, func(v float64) {
				nll += v
				nll2 += v * v
				res.Scored++
			})
			if err != nil {
				if errors.Is(err, errAborted) && ctx.Err() != nil {
					err = ctx.Err()
				}
				runErr = err
				return
			}
			if progress != nil {
				progress(c+1, res.Chunks, math.Exp(nll/float64(res.Scored)))
			}
		}
	})
	if err == nil {
		err = runErr
	}
	if err != nil {
		return res, err
	}
	mean := nll / float64(res.Scored)
	res.PPL = math.Exp(mean)
	if v := nll2/float64(res.Scored) - mean*mean; v > 0 && res.Scored > 1 {
		res.StdErr = math.Sqrt(v/float64(res.Scored-1)) * res.PPL
	}
	return res, nil
}
