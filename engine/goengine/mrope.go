package goengine

import (
	"slices"

	"github.com/ollama/ollama/ml"
	"github.com/ollama/ollama/model"
	"github.com/ollama/ollama/model/input"
	"github.com/ollama/ollama/model/models/qwen3next"
	"github.com/ollama/ollama/model/models/qwen3vl"
)

// Images in Qwen3.5 (Ollama's qwen3next model): its M-RoPE gives an image's
// embeddings one time position and a row and column each, and the text
// after the image resumes at the time position plus the grid's longer side,
// as upstream llama.cpp places them. Ollama's model keeps the map from a
// token's index to its time position (built by PostTokenize from the whole
// prompt) and adds the rows and columns from the image's grid in the batch
// (which needs its Vision field set). natter's spans come with their grid
// (Span.Grid); the embeddings come from the engine front (the projector is
// not read here).

// enableMRoPE readies a qwen35 model for image spans; false for others.
func enableMRoPE(m model.Model, textEmbd int) (int, bool) {
	qm, ok := m.(*qwen3next.Model)
	if !ok {
		return 0, false
	}
	if qm.Vision == nil {
		// Only its presence is read (buildPositions); natter runs the
		// encoder elsewhere.
		qm.Vision = &qwen3vl.VisionModel{}
	}
	return textEmbd, true
}

// MRoPE reports whether the model takes image spans with a grid.
func (e *Engine) MRoPE() bool { return e.mrope }

// setMRoPE gives the model the time positions of toks, whose spans with a
// grid each stand between a delimiter before and one after. Every prefill
// with an image sets them, and the first one without after it maps back
// to plain positions; text-only prompts before that need nothing (an empty
// map is the identity).
func (e *Engine) setMRoPE(toks []int32, spans []Span) error {
	images := slices.ContainsFunc(spans, func(sp Span) bool { return sp.Grid != [2]int{} })
	if !e.mrope || (!images && !e.mropeMapped) {
		return nil
	}
	pt, ok := e.m.(model.MultimodalProcessor)
	if !ok {
		return nil
	}
	mctx := e.m.Backend().NewContext()
	defer mctx.Close()
	inputs := make([]*input.Input, 0, len(toks))
	i := 0
	for _, sp := range spans {
		if sp.Grid == [2]int{} {
			continue
		}
		for ; i < sp.Start-1; i++ {
			inputs = append(inputs, &input.Input{Token: max(toks[i], 0)})
		}
		// The delimiters and the image become one input, which the model
		// expands back into delimiter, N positions and delimiter.
		t := mctx.Input().Empty(ml.DTypeF32, 1, sp.N)
		inputs = append(inputs, &input.Input{Multimodal: []input.Multimodal{{Tensor: t, Data: &qwen3vl.Grid{Width: 2 * sp.Grid[0], Height: 2 * sp.Grid[1], Temporal: 1}}}})
		i = sp.Start + sp.N + 1
	}
	for ; i < len(toks); i++ {
		inputs = append(inputs, &input.Input{Token: max(toks[i], 0)})
	}
	_, err := pt.PostTokenize(inputs)
	e.mropeMapped = images && err == nil
	return err
}

// mropeImage is an image span as Ollama's qwen3next reads it: its rows in
// order, with its grid (in patches, before the 2×2 merge).
func mropeImage(mctx ml.Context, em batchEmbed) input.MultimodalIndex {
	w := len(em.rows) / em.n
	t := mctx.Input().FromFloats(em.rows, w, em.n)
	return input.MultimodalIndex{Index: em.index, Multimodal: []input.Multimodal{{Tensor: t, Data: &qwen3vl.Grid{Width: 2 * em.grid[0], Height: 2 * em.grid[1], Temporal: 1}}}}
}
