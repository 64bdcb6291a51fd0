package goengine

import (
	"fmt"

	"natter/engine/gguf"
)

// planQwen35 validates a qwen35 / qwen35moe file against upstream
// llama.cpp's loader (src/models/qwen35.cpp, qwen35moe.cpp) and maps it for
// Ollama's qwen3next package. What differs (upstream → Ollama):
//   - block_count counts the MTP (nextn) layers too; Ollama would build
//     them as ordinary layers. Ollama gets block_count − nextn_predict_layers.
//   - which layers are linear attention: upstream reads
//     attention.recurrent_layers, else full_attention_interval (default 4);
//     Ollama reads zeros in a per-layer head_count_kv, else the interval
//     (default min(4, n)). Ollama gets the per-layer array upstream implies.
//   - rope.freq_base defaults to 10000 upstream, 0 in Ollama.
//   - rope is always interleaved M-RoPE upstream; Ollama reads
//     rope.mrope_interleaved (default false) — the same for text, where
//     all sections get the same position, but set for fidelity.
//   - MoE weights are always renormalised upstream; Ollama reads
//     norm_top_k_prob (default true). Forced true.
//   - Q/K/V of attention layers may be one fused attn_qkv (--fuse-qkv), and
//     expert gate/up one ffn_gate_up_exps (--fuse-gate-up-exps); Ollama reads
//     them split: it gets row views of the fused tensors.
//   - optional per-tensor ".scale" multipliers (NVFP4 scale2) are applied
//     upstream and ignored by Ollama: folded into scaled copies of the
//     weights (layout_scale.go).
//   - rope scaling (yarn etc.) is computed differently: refused. (Note
//     expert_weights_scale: v0.5.0's qwen35moe loader does not read it,
//     nor does Ollama: it is ignored by both.)
//   - Ollama also reads tensors upstream never does (ssm_in, ssm_ba,
//     ssm_dt without .bias, biases on any projection but Q/K/V): hidden.
func planQwen35(f *gguf.File, lb *layoutBackend) error {
	c := newChecker(f)
	moe := c.arch == "qwen35moe"
	for _, k := range []struct {
		name     string
		kind     kind
		required bool
	}{
		{"block_count", kUint, true},
		{"embedding_length", kUint, true},
		{"attention.head_count", kUintOrArray, true},
		{"attention.head_count_kv", kUintOrArray, false},
		{"attention.key_length", kUint, false},
		{"attention.value_length", kUint, false},
		{"attention.layer_norm_rms_epsilon", kFloat, true},
		{"attention.scale", kFloat, false},
		{"attention.recurrent_layers", kBoolArray, false},
		{"full_attention_interval", kUint, false},
		{"nextn_predict_layers", kUint, false},
		{"feed_forward_length", kUintOrArray, !moe},
		{"context_length", kUint, false},
		{"rope.dimension_count", kUint, false},
		{"rope.dimension_sections", kIntArray, true},
		{"rope.freq_base", kFloat, false},
		{"rope.scaling.type", kString, false},
		{"rope.scaling.factor", kFloat, false},
		{"ssm.conv_kernel", kUint, true},
		{"ssm.inner_size", kUint, true},
		{"ssm.state_size", kUint, true},
		{"ssm.time_step_rank", kUint, true},
		{"ssm.group_count", kUint, true},
		{"expert_count", kUint, moe},
		{"expert_used_count", kUint, moe},
		{"expert_feed_forward_length", kUintOrArray, false},
		{"expert_shared_feed_forward_length", kUint, false},
	} {
		if err := c.key(k.name, k.kind, k.required); err != nil {
			return err
		}
	}
	nAll := c.u("block_count", 0)
	nextn := c.u("nextn_predict_layers", 0)
	if nAll == 0 || nAll > 4096 {
		return c.fail("%s is %d", c.full("block_count"), nAll)
	}
	if nextn >= nAll {
		return c.fail("%s (%d) leaves no layers of %s %d", c.full("nextn_predict_layers"), nextn, c.full("block_count"), nAll)
	}
	n := int(nAll - nextn)
	if err := c.blockIndex(nAll); err != nil {
		return err
	}
	raw := func(k string) any { v, _ := f.Get(c.full(k)); return v }
	nEmbd := c.u("embedding_length", 0)
	heads := perLayerValues(raw("attention.head_count"), int(nAll))
	nHead := heads[0]
	for i := range n {
		if heads[i] != nHead {
			return c.fail("%s differs between layers; the Go engine needs one head count", c.full("attention.head_count"))
		}
	}
	kvHeads := heads
	if v := raw("attention.head_count_kv"); v != nil {
		kvHeads = perLayerValues(v, int(nAll))
	}
	if nEmbd == 0 || nHead == 0 {
		return c.fail("%s and %s must not be 0", c.full("embedding_length"), c.full("attention.head_count"))
	}
	hd := c.u("attention.key_length", nEmbd/nHead)
	if vl := c.u("attention.value_length", nEmbd/nHead); vl != hd || hd == 0 {
		return c.fail("%s (%d) and %s (%d) must be equal and not 0", c.full("attention.key_length"), hd, c.full("attention.value_length"), vl)
	}
	if rot := c.u("rope.dimension_count", hd); rot > hd || rot%2 != 0 {
		return c.fail("%s %d must be even and at most the head size %d", c.full("rope.dimension_count"), rot, hd)
	}
	if st := f.String(c.full("rope.scaling.type")); (st != "" && st != "none" && st != "linear") || c.fl("rope.scaling.factor", 1) != 1 && c.fl("rope.scaling.factor", 1) != 0 {
		return c.fail("rope scaling (%s, factor %g) is computed differently by the Go engine", st, c.fl("rope.scaling.factor", 1))
	}

	// Linear-attention geometry. Upstream sizes V heads by ssm.state_size
	// in the tensor shapes and by inner_size/time_step_rank in the graph;
	// Ollama requires the two equal.
	dConv, dInner, dState := c.u("ssm.conv_kernel", 0), c.u("ssm.inner_size", 0), c.u("ssm.state_size", 0)
	dtRank, nGroup := c.u("ssm.time_step_rank", 0), c.u("ssm.group_count", 0)
	if dConv == 0 || dState == 0 || dtRank == 0 || nGroup == 0 || dtRank%nGroup != 0 || dInner != dState*dtRank {
		return c.fail("linear-attention sizes do not fit: ssm.conv_kernel %d, inner_size %d, state_size %d, time_step_rank %d, group_count %d (need inner_size = state_size × time_step_rank, time_step_rank a multiple of group_count)",
			dConv, dInner, dState, dtRank, nGroup)
	}
	keyDim, valueDim := dState*nGroup, dState*dtRank

	// Which layers are recurrent, as upstream decides.
	recurrent := make([]bool, n)
	if v, ok := raw("attention.recurrent_layers").([]bool); ok {
		if len(v) < n {
			return c.fail("%s has %d entries for %d layers", c.full("attention.recurrent_layers"), len(v), n)
		}
		copy(recurrent, v)
	} else {
		interval := c.u("full_attention_interval", 4)
		if interval == 0 {
			return c.fail("%s is 0", c.full("full_attention_interval"))
		}
		for i := range recurrent {
			recurrent[i] = (uint64(i)+1)%interval != 0
		}
	}
	nRec := 0
	for _, r := range recurrent {
		if r {
			nRec++
		}
	}
	if nRec == 0 || nRec == n {
		return c.fail("the %d layers are all %s; the Go engine's qwen35 code needs both linear-attention and full-attention layers", n, map[bool]string{true: "linear attention", false: "full attention"}[nRec == n])
	}

	nVocab, err := c.vocabSize()
	if err != nil {
		return err
	}
	reads := map[string]bool{}
	need := func(name string, required bool, dims ...uint64) (bool, error) {
		ok, err := c.tensor(name, required, dims...)
		if ok {
			reads[name] = true
		}
		return ok, err
	}
	for _, t := range []struct {
		name     string
		required bool
		dims     []uint64
	}{
		{"token_embd.weight", true, []uint64{nEmbd, nVocab}},
		{"output_norm.weight", true, []uint64{nEmbd}},
		{"output.weight", false, []uint64{nEmbd, nVocab}},
	} {
		if _, err := need(t.name, t.required, t.dims...); err != nil {
			return err
		}
	}

	ffLen := perLayerValues(raw("feed_forward_length"), int(nAll))
	nExpert, nUsed := c.u("expert_count", 0), c.u("expert_used_count", 0)
	if moe && (nExpert == 0 || nUsed == 0 || nUsed > nExpert) {
		return c.fail("%s %d with %s %d", c.full("expert_count"), nExpert, c.full("expert_used_count"), nUsed)
	}
	expFF := perLayerValues(raw("expert_feed_forward_length"), int(nAll))
	var scales []string
	headKV := make([]uint64, n)
	for i := range n {
		p := fmt.Sprintf("blk.%d.", i)
		type spec struct {
			name     string
			required bool
			dims     []uint64
		}
		specs := []spec{
			{"attn_norm.weight", true, []uint64{nEmbd}},
			{"post_attention_norm.weight", true, []uint64{nEmbd}},
		}
		if recurrent[i] {
			specs = append(specs,
				spec{"attn_qkv.weight", true, []uint64{nEmbd, 2*keyDim + valueDim}},
				spec{"attn_gate.weight", true, []uint64{nEmbd, valueDim}},
				spec{"ssm_conv1d.weight", true, []uint64{dConv, 2*keyDim + valueDim}},
				spec{"ssm_dt.bias", true, []uint64{dtRank}},
				spec{"ssm_a", true, []uint64{dtRank}},
				spec{"ssm_beta.weight", true, []uint64{nEmbd, dtRank}},
				spec{"ssm_alpha.weight", true, []uint64{nEmbd, dtRank}},
				spec{"ssm_norm.weight", true, []uint64{dState}},
				spec{"ssm_out.weight", true, []uint64{valueDim, nEmbd}},
			)
			scales = append(scales, p+"attn_qkv.scale", p+"attn_gate.scale", p+"ssm_beta.scale", p+"ssm_alpha.scale", p+"ssm_out.scale")
		} else {
			kv := kvHeads[i]
			if kv == 0 || nHead%kv != 0 {
				return c.fail("layer %d is full attention but %s is %d for %d heads", i, c.full("attention.head_count_kv"), kv, nHead)
			}
			headKV[i] = kv
			q, k := hd*nHead*2, hd*kv // Q carries the output gate: 2 × head size per head
			if c.has(p + "attn_qkv.weight") {
				if _, err := need(p+"attn_qkv.weight", true, nEmbd, q+2*k); err != nil {
					return err
				}
				if c.has(p + "attn_qkv.bias") {
					return c.fail("tensor %sattn_qkv.bias: a fused Q/K/V bias is not supported by the Go engine", p)
				}
				lb.views[p+"attn_q.weight"] = viewSpec{src: p + "attn_qkv.weight", row: 0, rows: int(q)}
				lb.views[p+"attn_k.weight"] = viewSpec{src: p + "attn_qkv.weight", row: int(q), rows: int(k)}
				lb.views[p+"attn_v.weight"] = viewSpec{src: p + "attn_qkv.weight", row: int(q + k), rows: int(k)}
				scales = append(scales, p+"attn_qkv.scale")
			} else {
				if !c.has(p + "attn_q.weight") {
					return c.fail("tensor %sattn_q.weight is missing (nor is there a fused %sattn_qkv.weight)", p, p)
				}
				specs = append(specs,
					spec{"attn_q.weight", true, []uint64{nEmbd, q}},
					spec{"attn_k.weight", true, []uint64{nEmbd, k}},
					spec{"attn_v.weight", true, []uint64{nEmbd, k}},
				)
				scales = append(scales, p+"attn_q.scale", p+"attn_k.scale", p+"attn_v.scale")
			}
			specs = append(specs,
				spec{"attn_q.bias", false, []uint64{q}},
				spec{"attn_k.bias", false, []uint64{k}},
				spec{"attn_v.bias", false, []uint64{k}},
				spec{"attn_output.weight", true, []uint64{hd * nHead, nEmbd}},
				spec{"attn_q_norm.weight", true, []uint64{hd}},
				spec{"attn_k_norm.weight", true, []uint64{hd}},
			)
			scales = append(scales, p+"attn_output.scale")
		}
		if !moe {
			ff := ffLen[i]
			specs = append(specs,
				spec{"ffn_gate.weight", true, []uint64{nEmbd, ff}},
				spec{"ffn_down.weight", true, []uint64{ff, nEmbd}},
				spec{"ffn_up.weight", true, []uint64{nEmbd, ff}},
			)
			scales = append(scales, p+"ffn_gate.scale", p+"ffn_down.scale", p+"ffn_up.scale")
		} else {
			ffExp := expFF[i]
			if ffExp == 0 {
				ffExp = ffLen[i] / nUsed
			}
			ffSh := c.u("expert_shared_feed_forward_length", ffLen[i])
			specs = append(specs,
				spec{"ffn_gate_inp.weight", true, []uint64{nEmbd, nExpert}},
				spec{"ffn_down_exps.weight", true, []uint64{ffExp, nEmbd, nExpert}},
				spec{"ffn_gate_inp_shexp.weight", true, []uint64{nEmbd}},
				spec{"ffn_gate_shexp.weight", true, []uint64{nEmbd, ffSh}},
				spec{"ffn_up_shexp.weight", true, []uint64{nEmbd, ffSh}},
				spec{"ffn_down_shexp.weight", true, []uint64{ffSh, nEmbd}},
			)
			if c.has(p + "ffn_gate_up_exps.weight") {
				if _, err := need(p+"ffn_gate_up_exps.weight", true, nEmbd, 2*ffExp, nExpert); err != nil {
					return err
				}
				lb.views[p+"ffn_gate_exps.weight"] = viewSpec{src: p + "ffn_gate_up_exps.weight", row: 0, rows: int(ffExp)}
				lb.views[p+"ffn_up_exps.weight"] = viewSpec{src: p + "ffn_gate_up_exps.weight", row: int(ffExp), rows: int(ffExp)}
			} else {
				if !c.has(p + "ffn_gate_exps.weight") {
					return c.fail("tensor %sffn_gate_exps.weight is missing (nor is there a fused %sffn_gate_up_exps.weight)", p, p)
				}
				specs = append(specs,
					spec{"ffn_gate_exps.weight", true, []uint64{nEmbd, ffExp, nExpert}},
					spec{"ffn_up_exps.weight", true, []uint64{nEmbd, ffExp, nExpert}},
				)
				scales = append(scales, p+"ffn_gate_exps.scale", p+"ffn_up_exps.scale")
			}
			scales = append(scales, p+"ffn_down_exps.scale",
				p+"ffn_gate_shexp.scale", p+"ffn_up_shexp.scale", p+"ffn_down_shexp.scale")
		}
		for _, s := range specs {
			if _, err := need(p+s.name, s.required, s.dims...); err != nil {
				return err
			}
		}
	}
	if err := c.foldScales(scales, lb); err != nil {
		return err
	}

	// What Ollama's qwen3next reads, with upstream's meaning.
	cfg := lb.cfg
	cfg.set("block_count", uint32(n))
	cfg.set("attention.head_count", uint32(nHead))
	cfg.headCountKV = headKV
	cfg.setDefault("rope.freq_base", float32(10000))
	cfg.set("rope.mrope_interleaved", true)
	cfg.set("norm_top_k_prob", true)
	cfg.set("ssm.v_head_reordered", true)
	for _, k := range []string{"mrope_sections", "rope.mrope_section", "mrope_interleaved", "rope.type",
		"rope.scaling.type", "rope.scaling.factor", "full_attention_interval", "vision.block_count"} {
		cfg.drop(k)
	}
	lb.reads = reads
	return nil
}
