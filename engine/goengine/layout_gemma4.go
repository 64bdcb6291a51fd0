package goengine

import (
	"fmt"

	"natter/engine/gguf"
)

// planGemma4 validates a gemma4 file against upstream llama.cpp's loader
// (src/models/gemma4.cpp) and maps it for Ollama's gemma4 package, whose
// tensor names already accept upstream's. What differs (upstream → Ollama):
//   - rope.freq_base defaults to 10000 upstream, 1e6 in Ollama; made explicit.
//   - rope.freq_base_swa defaults to 10000 upstream; Ollama falls back to its
//     own rope.local.freq_base first (dropped) — same number otherwise.
//   - attention.key_length defaults to n_embd/n_head upstream, 512 in
//     Ollama; key_length_swa is required upstream, 256 by default in Ollama.
//   - SWA layers rotate rope.dimension_count_swa dims upstream (default
//     rope.dimension_count); Ollama always rotates the whole SWA head:
//     refused when they differ.
//   - head counts may be per layer upstream; Ollama keeps one head count,
//     one KV head count for SWA layers (layer 0's value of an array, which
//     is wrong when layer 0 is a full layer) and one for full layers. Ollama
//     gets the two KV counts explicitly; anything finer is refused.
//   - Q/K/V may be one fused attn_qkv (--fuse-qkv); Ollama reads them split:
//     it gets row views.
//   - rope_freqs.weight is required upstream (proportional RoPE on full
//     layers), optional in Ollama: its absence is an error.
//   - the sliding window: upstream lets a token see the last n_swa
//     positions including its own (masked when p1 − p0 ≥ n_swa, as HF
//     does); Ollama's SWA cache masks only p0 < p1 − window, one more
//     token. Ollama gets n_swa − 1.
//   - ".scale" multipliers on projections are applied upstream only:
//     folded into scaled weights (layout_scale.go). ffn_gate_inp.scale and
//     ffn_down_exps.scale, the router and per-expert scales, are read by
//     both.
func planGemma4(f *gguf.File, lb *layoutBackend) error {
	c := newChecker(f)
	for _, k := range []struct {
		name     string
		kind     kind
		required bool
	}{
		{"block_count", kUint, true},
		{"embedding_length", kUint, true},
		{"feed_forward_length", kUintOrArray, true},
		{"attention.head_count", kUintOrArray, true},
		{"attention.head_count_kv", kUintOrArray, false},
		{"attention.key_length", kUint, false},
		{"attention.value_length", kUint, false},
		{"attention.key_length_swa", kUint, true},
		{"attention.value_length_swa", kUint, true},
		{"attention.layer_norm_rms_epsilon", kFloat, true},
		{"attention.sliding_window", kUint, true},
		{"attention.sliding_window_pattern", kBoolArray, true},
		{"attention.shared_kv_layers", kUint, false},
		{"embedding_length_per_layer_input", kUint, true},
		{"context_length", kUint, false},
		{"rope.dimension_count", kUint, false},
		{"rope.dimension_count_swa", kUint, false},
		{"rope.freq_base", kFloat, false},
		{"rope.freq_base_swa", kFloat, false},
		{"rope.scaling.type", kString, false},
		{"rope.scaling.factor", kFloat, false},
		{"final_logit_softcapping", kFloat, false},
		{"expert_count", kUint, false},
		{"expert_used_count", kUint, false},
		{"expert_feed_forward_length", kUintOrArray, false},
		{"nextn_predict_layers", kUint, false},
	} {
		if err := c.key(k.name, k.kind, k.required); err != nil {
			return err
		}
	}
	raw := func(k string) any { v, _ := f.Get(c.full(k)); return v }
	n := int(c.u("block_count", 0))
	if n == 0 || n > 4096 {
		return c.fail("%s is %d", c.full("block_count"), n)
	}
	if c.u("nextn_predict_layers", 0) != 0 {
		return c.fail("%s: MTP layers in a gemma4 file are not supported by the Go engine", c.full("nextn_predict_layers"))
	}
	if err := c.blockIndex(uint64(n)); err != nil {
		return err
	}
	swa := raw("attention.sliding_window_pattern").([]bool)
	if len(swa) < n {
		return c.fail("%s has %d entries for %d layers", c.full("attention.sliding_window_pattern"), len(swa), n)
	}
	swa = swa[:n]
	nEmbd := c.u("embedding_length", 0)
	heads := perLayerValues(raw("attention.head_count"), n)
	nHead := heads[0]
	for i := range n {
		if heads[i] != nHead {
			return c.fail("%s differs between layers; the Go engine needs one head count", c.full("attention.head_count"))
		}
	}
	if nEmbd == 0 || nHead == 0 {
		return c.fail("%s and %s must not be 0", c.full("embedding_length"), c.full("attention.head_count"))
	}
	kvHeads := heads
	if v := raw("attention.head_count_kv"); v != nil {
		kvHeads = perLayerValues(v, n)
	}
	kvOf := map[bool]uint64{}
	for i := range n {
		kv := kvHeads[i]
		if kv == 0 || nHead%kv != 0 {
			return c.fail("layer %d: %s is %d for %d heads", i, c.full("attention.head_count_kv"), kv, nHead)
		}
		if prev, ok := kvOf[swa[i]]; ok && prev != kv {
			return c.fail("%s differs between layers of one kind; the Go engine needs one value for sliding-window and one for full layers", c.full("attention.head_count_kv"))
		}
		kvOf[swa[i]] = kv
	}
	hdFull := c.u("attention.key_length", nEmbd/nHead)
	if v := c.u("attention.value_length", nEmbd/nHead); v != hdFull || hdFull == 0 {
		return c.fail("%s (%d) and %s (%d) must be equal and not 0", c.full("attention.key_length"), hdFull, c.full("attention.value_length"), v)
	}
	hdSwa := c.u("attention.key_length_swa", 0)
	if v := c.u("attention.value_length_swa", 0); v != hdSwa || hdSwa == 0 {
		return c.fail("%s (%d) and %s (%d) must be equal and not 0", c.full("attention.key_length_swa"), hdSwa, c.full("attention.value_length_swa"), v)
	}
	rotFull := c.u("rope.dimension_count", hdFull)
	rotSwa := c.u("rope.dimension_count_swa", rotFull)
	if rotFull > hdFull || rotFull%2 != 0 {
		return c.fail("%s %d must be even and at most the head size %d", c.full("rope.dimension_count"), rotFull, hdFull)
	}
	if rotSwa != hdSwa && kvOf[true] != 0 {
		return c.fail("%s %d is not the sliding-window head size %d: the Go engine rotates whole heads there", c.full("rope.dimension_count_swa"), rotSwa, hdSwa)
	}
	if st := f.String(c.full("rope.scaling.type")); (st != "" && st != "none" && st != "linear") || c.fl("rope.scaling.factor", 1) != 1 && c.fl("rope.scaling.factor", 1) != 0 {
		return c.fail("rope scaling (%s, factor %g) is not applied by the Go engine's gemma4 code", st, c.fl("rope.scaling.factor", 1))
	}
	nSwa := c.u("attention.sliding_window", 0)
	if nSwa < 2 && kvOf[true] != 0 {
		return c.fail("%s is %d; the Go engine needs at least 2", c.full("attention.sliding_window"), nSwa)
	}
	shared := c.u("attention.shared_kv_layers", 0)
	if shared >= uint64(n) {
		return c.fail("%s %d leaves no layer with its own KV of %d", c.full("attention.shared_kv_layers"), shared, n)
	}
	// Shared-KV layers: upstream reuses layer firstShared−2 for SWA layers
	// and firstShared−1 for full ones; Ollama the last non-shared layer of
	// the same kind. The same layers when the unshared part ends SWA, full
	// (as in every Gemma 4); otherwise refused.
	firstShared := n - int(shared)
	for i := firstShared; i < n; i++ {
		up := firstShared - 1
		if swa[i] {
			up = firstShared - 2
		}
		donor := -1
		for j := range firstShared {
			if swa[j] == swa[i] {
				donor = j
			}
		}
		if up < 0 || donor != up {
			return c.fail("layer %d shares KV with layer %d upstream, which the Go engine would not pick (%s)", i, up, c.full("attention.shared_kv_layers"))
		}
	}
	nVocab, err := c.vocabSize()
	if err != nil {
		return err
	}
	nPL := c.u("embedding_length_per_layer_input", 0)
	nExpert, nUsed := c.u("expert_count", 0), c.u("expert_used_count", 0)
	ffLen := perLayerValues(raw("feed_forward_length"), n)
	expFF := perLayerValues(raw("expert_feed_forward_length"), n)

	reads := map[string]bool{}
	type spec struct {
		name     string
		required bool
		dims     []uint64
	}
	check := func(specs ...spec) error {
		for _, s := range specs {
			ok, err := c.tensor(s.name, s.required, s.dims...)
			if err != nil {
				return err
			}
			if ok {
				reads[s.name] = true
			}
		}
		return nil
	}
	if err := check(
		spec{"token_embd.weight", true, []uint64{nEmbd, nVocab}},
		spec{"output.weight", false, []uint64{nEmbd, nVocab}},
		spec{"output_norm.weight", true, []uint64{nEmbd}},
	); err != nil {
		return err
	}
	if nPL > 0 {
		if err := check(
			spec{"per_layer_token_embd.weight", true, []uint64{nPL * uint64(n), nVocab}},
			spec{"per_layer_model_proj.weight", true, []uint64{nEmbd, nPL * uint64(n)}},
			spec{"per_layer_proj_norm.weight", true, []uint64{nPL}},
		); err != nil {
			return err
		}
	}
	if kvOf[false] != 0 { // some full layer: proportional RoPE factors
		if err := check(spec{"rope_freqs.weight", true, []uint64{hdFull / 2}}); err != nil {
			return err
		}
		for i := range n { // Ollama's backend copies it into every layer
			reads[fmt.Sprintf("blk.%d.rope_freqs.weight", i)] = true
		}
	}
	var scales []string
	for i := range n {
		p := fmt.Sprintf("blk.%d.", i)
		hd := hdFull
		if swa[i] {
			hd = hdSwa
		}
		q, k := hd*nHead, hd*kvHeads[i]
		hasKV := i < firstShared
		specs := []spec{
			{p + "attn_norm.weight", true, []uint64{nEmbd}},
			{p + "attn_output.weight", true, []uint64{q, nEmbd}},
			{p + "attn_q_norm.weight", true, []uint64{hd}},
			{p + "attn_k_norm.weight", hasKV, []uint64{hd}},
			{p + "post_attention_norm.weight", true, []uint64{nEmbd}},
			{p + "layer_output_scale.weight", false, []uint64{1}},
			{p + "ffn_norm.weight", true, []uint64{nEmbd}},
			{p + "ffn_gate.weight", true, []uint64{nEmbd, ffLen[i]}},
			{p + "ffn_up.weight", true, []uint64{nEmbd, ffLen[i]}},
			{p + "ffn_down.weight", true, []uint64{ffLen[i], nEmbd}},
			{p + "post_ffw_norm.weight", true, []uint64{nEmbd}},
		}
		scales = append(scales, p+"attn_output.scale", p+"ffn_gate.scale", p+"ffn_up.scale", p+"ffn_down.scale")
		if c.has(p + "attn_qkv.weight") {
			specs = append(specs, spec{p + "attn_qkv.weight", true, []uint64{nEmbd, q + 2*k}})
			if c.has(p + "attn_qkv.bias") {
				return c.fail("tensor %sattn_qkv.bias: a fused Q/K/V bias is not supported by the Go engine", p)
			}
			src := p + "attn_qkv.weight"
			lb.views[p+"attn_q.weight"] = viewSpec{src: src, row: 0, rows: int(q)}
			lb.views[p+"attn_k.weight"] = viewSpec{src: src, row: int(q), rows: int(k)}
			lb.views[p+"attn_v.weight"] = viewSpec{src: src, row: int(q + k), rows: int(k)}
			scales = append(scales, p+"attn_qkv.scale")
		} else {
			if !c.has(p + "attn_q.weight") {
				return c.fail("tensor %sattn_q.weight is missing (nor is there a fused %sattn_qkv.weight)", p, p)
			}
			specs = append(specs,
				spec{p + "attn_q.weight", true, []uint64{nEmbd, q}},
				spec{p + "attn_k.weight", hasKV, []uint64{nEmbd, k}},
				spec{p + "attn_v.weight", false, []uint64{nEmbd, k}},
			)
			scales = append(scales, p+"attn_q.scale", p+"attn_k.scale", p+"attn_v.scale")
		}
		if c.has(p + "ffn_gate_inp.weight") {
			if nExpert == 0 || nUsed == 0 || nUsed > nExpert {
				return c.fail("layer %d has experts but %s is %d and %s %d", i, c.full("expert_count"), nExpert, c.full("expert_used_count"), nUsed)
			}
			ffExp := expFF[i]
			specs = append(specs,
				spec{p + "ffn_gate_inp.weight", true, []uint64{nEmbd, nExpert}},
				spec{p + "ffn_gate_inp.scale", true, []uint64{nEmbd}},
				spec{p + "pre_ffw_norm_2.weight", true, []uint64{nEmbd}},
				spec{p + "post_ffw_norm_1.weight", true, []uint64{nEmbd}},
				spec{p + "post_ffw_norm_2.weight", true, []uint64{nEmbd}},
				spec{p + "ffn_down_exps.weight", true, []uint64{ffExp, nEmbd, nExpert}},
				spec{p + "ffn_down_exps.scale", false, []uint64{nExpert}},
			)
			if c.has(p + "ffn_gate_up_exps.weight") {
				specs = append(specs, spec{p + "ffn_gate_up_exps.weight", true, []uint64{nEmbd, 2 * ffExp, nExpert}})
			} else {
				if !c.has(p + "ffn_gate_exps.weight") {
					return c.fail("tensor %sffn_gate_exps.weight is missing (nor is there a fused %sffn_gate_up_exps.weight)", p, p)
				}
				specs = append(specs,
					spec{p + "ffn_gate_exps.weight", true, []uint64{nEmbd, ffExp, nExpert}},
					spec{p + "ffn_up_exps.weight", true, []uint64{nEmbd, ffExp, nExpert}},
				)
				scales = append(scales, p+"ffn_gate_exps.scale", p+"ffn_up_exps.scale")
			}
		}
		if nPL > 0 {
			specs = append(specs,
				spec{p + "inp_gate.weight", true, []uint64{nEmbd, nPL}},
				spec{p + "proj.weight", true, []uint64{nPL, nEmbd}},
				spec{p + "post_norm.weight", true, []uint64{nEmbd}},
			)
		}
		if err := check(specs...); err != nil {
			return err
		}
	}
	if err := c.foldScales(scales, lb); err != nil {
		return err
	}

	cfg := lb.cfg
	cfg.set("attention.head_count", uint32(nHead))
	cfg.set("attention.head_count_kv", uint32(max(kvOf[true], kvOf[false])))
	if kvOf[true] != 0 {
		cfg.set("attention.head_count_kv", uint32(kvOf[true]))
	}
	cfg.set("attention.global_head_count_kv", uint32(kvOf[false]))
	cfg.set("attention.sliding_window", uint32(max(nSwa, 1)-1))
	cfg.set("attention.key_length", uint32(hdFull))
	cfg.set("attention.key_length_swa", uint32(hdSwa))
	cfg.set("rope.dimension_count", uint32(rotFull))
	cfg.setDefault("rope.freq_base", float32(10000))
	cfg.setDefault("rope.freq_base_swa", float32(10000))
	for _, k := range []string{"rope.local.freq_base", "rope.partial_rotary_factor", "vision.block_count", "audio.block_count"} {
		cfg.drop(k)
	}
	lb.reads = reads
	return nil
}
